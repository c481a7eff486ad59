// What bin/virtplane runs: the TypeScript sources under tsx (a dependency of the repository), so the
// command needs no build step; tsx is resolved from this file, wherever the command is run from.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
