/** The `virtplane` command line: every query and mutation of the API, on @virtplane/sdk. */
import { Command, CommanderError, Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { auditCommand, loginCommands, quotaCommand, tokenCommand, userCommand } from './admin.js';
import { completionCommand } from './completion.js';
import { consoleCommand } from './console.js';
import { domainCommand } from './domain.js';
import { eventsCommand } from './events.js';
import { forwardCommand, imageCommand, networkCommand } from './network.js';
import { poolCommand } from './pool.js';
import { usageCommand } from './usage.js';
import { exitCodesHelp, printError, setFormat } from './output.js';

// A closed pipe (`virtplane events -f | head`) ends the command quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command('virtplane')
  .description(
    'The command line of virtplane. The server and token come from VIRTPLANE_URL and VIRTPLANE_TOKEN, else from ' +
      '`virtplane login URL`. Output is a table, or stable JSON with --output json (events: one JSON object per line); ' +
      'errors go to standard error as "virtplane: CODE: message" (JSON: {"error":{code,message,…}}).',
  )
  .addOption(new Option('-o, --output <format>', 'table or json').choices(['table', 'json'] as const).default('table' as const))
  .showHelpAfterError()
  .exitOverride()
  .addHelpText('after', '\n' + exitCodesHelp())
  .hook('preAction', (cmd) => {
    setFormat(cmd.opts().output);
  });

for (const c of [
  ...loginCommands(),
  domainCommand(),
  eventsCommand(),
  consoleCommand(),
  userCommand(),
  tokenCommand(),
  quotaCommand(),
  usageCommand(),
  auditCommand(),
  networkCommand(),
  forwardCommand(),
  imageCommand(),
  poolCommand(),
])
  program.addCommand(c);
program.addCommand(completionCommand(program));

// Usage errors exit 2 (help and --version 0), in every subcommand.
const inherit = (cmd: CommandUnknownOpts) => {
  for (const sub of cmd.commands) {
    sub.exitOverride();
    sub.showHelpAfterError();
    inherit(sub);
  }
};
inherit(program);

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version' ? 0 : 2;
  } else process.exitCode = printError(err);
}
