#!/usr/bin/env node
// The `virtplane` command: runs the TypeScript sources under tsx (a dependency of the repository), so the
// command needs no build step. `npx virtplane` / `npm exec virtplane` find it as this workspace's bin.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
