/**
 * Where the CLI finds its server and token: `VIRTPLANE_URL` and `VIRTPLANE_TOKEN` override what `virtplane
 * login` stored in `$XDG_CONFIG_HOME/virtplane/config.json` (default `~/.config`; directory 0700, file 0600).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ApiError, VirtplaneClient } from '@virtplane/sdk';

export interface StoredConfig {
  url: string;
  token: string;
}

export function configDir(): string {
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'virtplane');
}

export const configFile = () => join(configDir(), 'config.json');

export function readConfig(): Partial<StoredConfig> {
  const file = configFile();
  if (!existsSync(file)) return {};
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<StoredConfig>;
  return {
    url: typeof parsed.url === 'string' ? parsed.url : undefined,
    token: typeof parsed.token === 'string' ? parsed.token : undefined,
  };
}

export function writeConfig(config: StoredConfig): void {
  const dir = configDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const tmp = join(dir, `.config.json.${process.pid}`);
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, configFile());
}

export function removeConfig(): boolean {
  const file = configFile();
  if (!existsSync(file)) return false;
  rmSync(file);
  return true;
}

/** The client for the configured server; NOT_LOGGED_IN when there is no URL or token. */
export function connect(): VirtplaneClient {
  const stored = readConfig();
  const url = process.env.VIRTPLANE_URL || stored.url;
  const token = process.env.VIRTPLANE_TOKEN || stored.token;
  if (!url || !token)
    throw new ApiError('NOT_LOGGED_IN', 'no server configured: run `virtplane login URL`, or set VIRTPLANE_URL and VIRTPLANE_TOKEN');
  return new VirtplaneClient({ url, token });
}
