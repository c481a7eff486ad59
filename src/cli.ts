import { CONFIG_HELP, ConfigError, loadConfig } from './config.js';
import { pino } from 'pino';
import { StartupError, startVirtplane } from './main.js';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(CONFIG_HELP);
  process.exit(0);
}

let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`virtplane: ${err.message}\n\n${CONFIG_HELP}`);
    process.exit(2);
  }
  throw err;
}

const log = pino({ level: config.logLevel });
let app;
try {
  app = await startVirtplane(config, log);
} catch (err) {
  // What the operator can fix is said in one line; anything else keeps its stack trace.
  if (!(err instanceof StartupError)) throw err;
  process.stderr.write(`virtplane: ${err.message}\n`);
  process.exit(1);
}
if (app.generatedAdminToken) {
  // Printed once: only its hash is stored.
  process.stdout.write(`\nAdmin API token (shown only now, store it safely):\n  ${app.generatedAdminToken}\n\n`);
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    app.stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  });
}
