/** `virtplane console DOMAIN`: the serial console on this terminal through a one-time ticket. */
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { ApiError, CreateConsoleTicket, unwrap } from '@virtplane/sdk';
import { connect } from './config.js';
import { isJson, printJson } from './output.js';
import { domainId } from './resolve.js';
import { action } from './run.js';

const ESCAPE = 0x1d; // Ctrl-]

export function consoleCommand(): CommandUnknownOpts {
  return new Command('console')
    .summary('Attach to the serial console (Ctrl-] detaches), or --graphics for a browser URL')
    .description(
      "Attach this terminal to the domain's serial console (raw mode; Ctrl-] detaches, as with virsh console).\n" +
        "With --graphics: print the browser console's one-time URL instead (valid 30 s, used once).",
    )
    .argument('<domain>', 'name or ID')
    .option('--graphics', 'the graphical console in a browser: print its URL')
    .action(
      action(async (ref, o) => {
        const vp = connect();
        const id = await domainId(vp, ref);
        const ticket = unwrap(
          (await vp.request(CreateConsoleTicket, { domainId: id, kind: o.graphics ? 'GRAPHICS' : 'SERIAL' })).createConsoleTicket,
        );
        if (o.graphics) {
          const pageUrl = new URL(ticket.pageUrl, vp.urls.base + '/').toString();
          if (isJson()) printJson({ pageUrl, expiresAt: ticket.expiresAt });
          else process.stdout.write(pageUrl + '\n');
          return;
        }
        const ws = vp.openConsole(ticket.websocketUrl);
        ws.binaryType = 'nodebuffer';
        const stdin = process.stdin;
        const raw = stdin.isTTY;
        const code = await new Promise<number>((resolve, reject) => {
          let detached = false;
          ws.on('open', () => {
            process.stderr.write(`Connected to ${ref}\r\nEscape character is ^] (Ctrl + ])\r\n`);
            if (raw) stdin.setRawMode(true);
            stdin.resume();
            stdin.on('data', (buf: Buffer) => {
              const at = buf.indexOf(ESCAPE);
              if (at >= 0) {
                if (at > 0) ws.send(buf.subarray(0, at));
                detached = true;
                ws.close(1000, 'detached');
                return;
              }
              ws.send(buf);
            });
          });
          ws.on('message', (data: Buffer) => process.stdout.write(data));
          ws.on('error', (err) => reject(new ApiError('UNREACHABLE', err.message)));
          ws.on('close', (closeCode, reason) => {
            if (raw) stdin.setRawMode(false);
            stdin.pause();
            if (detached || closeCode === 1000) return resolve(0);
            process.stderr.write(`\r\nconsole closed: ${closeCode} ${reason.toString()}\r\n`);
            resolve(closeCode === 4404 ? 5 : closeCode === 4412 || closeCode === 4415 ? 6 : 9);
          });
        });
        process.stderr.write('\r\n');
        process.exitCode = code;
      }),
    );
}
