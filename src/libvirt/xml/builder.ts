import { XMLBuilder } from 'fast-xml-parser';
import { ATTR } from './parser.js';

/**
 * The one XML writer of the libvirt layer. fast-xml-parser's builder escapes `&`, `<`, `>`, `'` and `"` in
 * text and attribute values, so a string from a user can never open or close an element. Characters XML 1.0
 * cannot carry at all (NUL and most C0 controls) are refused here instead of being passed on.
 */
const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  format: true,
  indentBy: '  ',
  suppressEmptyNode: true,
  suppressBooleanAttributes: false,
  processEntities: true,
});

export type XmlTree = { [key: string]: XmlValue };
export type XmlValue = string | number | XmlTree | XmlTree[] | undefined;

// eslint-disable-next-line no-control-regex
const NOT_XML_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/;

export class XmlValueError extends Error {}

/** Rejects values XML cannot represent; returns the value so it can be used inline. */
export function xmlSafe(value: string, what: string): string {
  if (NOT_XML_CHARS.test(value)) throw new XmlValueError(`${what} contains a control character XML cannot carry`);
  return value;
}

/** Drops undefined members so optional parts simply do not appear. */
function prune(value: XmlValue): XmlValue {
  if (Array.isArray(value)) return value.map((v) => prune(v) as XmlTree);
  if (value && typeof value === 'object') {
    const out: XmlTree = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = prune(v);
    return out;
  }
  return value;
}

export function buildXml(tree: XmlTree | Record<string, unknown>): string {
  return builder.build(prune(tree as XmlTree));
}

/** Shorthand for an attribute key. */
export const a = (name: string): string => ATTR + name;
