import { readFileSync, writeFileSync } from 'node:fs';
import { readmeWithSettings } from './settings-text.js';

const readme = new URL('../README.md', import.meta.url);
writeFileSync(readme, readmeWithSettings(readFileSync(readme, 'utf8')));
process.stdout.write('README.md: table of settings written\n');
