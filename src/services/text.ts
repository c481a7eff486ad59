/**
 * Characters no label or path needs and that make text lie about itself when shown: control characters (NUL,
 * escape sequences for terminals), format characters (bidi overrides and isolates that reorder what an admin
 * reads, zero-width characters, the BOM) and the line and paragraph separators.
 */
const HIDDEN_OR_CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

export function hasHiddenOrControl(text: string): boolean {
  return HIDDEN_OR_CONTROL.test(text);
}

/** Longest host path accepted (Linux's PATH_MAX). */
export const MAX_PATH_LENGTH = 4096;
