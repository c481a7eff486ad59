import { settingsMarkdown } from '../src/config.js';

export const SETTINGS_BEGIN = '<!-- settings: made from src/config.ts by `npm run docs:settings`; do not edit -->';
export const SETTINGS_END = '<!-- /settings -->';

/** `readme` with the block between the settings markers replaced by the table src/config.ts defines now. */
export function readmeWithSettings(readme: string): string {
  const begin = readme.indexOf(SETTINGS_BEGIN);
  const end = readme.indexOf(SETTINGS_END);
  if (begin < 0 || end < begin) throw new Error(`README.md has no block between ${SETTINGS_BEGIN} and ${SETTINGS_END}`);
  return `${readme.slice(0, begin + SETTINGS_BEGIN.length)}\n${settingsMarkdown()}${readme.slice(end)}`;
}
