import { CONFIG_HELP, ConfigError, loadConfig } from './config.js';
import { pino } from 'pino';
import { StartupError, startVirtplane, type Virtplane } from './main.js';

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

// Installed before the start: a service manager may stop us as soon as the listening line is out, and a
// signal with no handler yet would kill the process without stopping its children or closing the database.
let app: Virtplane | undefined;
let stopSignal: NodeJS.Signals | undefined;
const stop = (signal: NodeJS.Signals, running: Virtplane) => {
  log.info({ signal }, 'stopping');
  running.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      log.error({ err }, 'error while stopping');
      process.exit(1);
    },
  );
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopSignal) {
      // A second signal while the start still runs: the operator insists (the children die with us).
      if (!app) process.exit(1);
      return;
    }
    stopSignal = signal;
    // During the start, the stop waits for it: startVirtplane undoes a failed start itself.
    if (app) stop(signal, app);
  });
}

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
if (stopSignal) stop(stopSignal, app);
