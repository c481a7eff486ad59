import { XMLParser } from 'fast-xml-parser';

/** Elements that may repeat in libvirt XML and must always parse to arrays. */
const repeated = new Set(['disk', 'interface', 'graphics', 'ip', 'range', 'host', 'console', 'serial', 'boot']);

export const ATTR = '@_';

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: true,
  isArray: (name) => repeated.has(name),
  // Callbacks get the parser's path matcher instead of a path string built for every tag (~15 % of parse time).
  jPath: false,
});

export type XmlNode = Record<string, unknown>;

export function parseXml(xml: string): XmlNode {
  return parser.parse(xml) as XmlNode;
}

export function child(node: unknown, name: string): XmlNode | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const raw: unknown = (node as XmlNode)[name];
  // Names in `repeated` parse as arrays wherever they occur; a single child is then the first one.
  const v: unknown = Array.isArray(raw) ? (raw as unknown[])[0] : raw;
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object') return v as XmlNode;
  return { '#text': scalar(v) };
}

/** The text of a parsed scalar (fast-xml-parser gives strings, numbers or booleans); objects have none. */
function scalar(v: unknown): string | null {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' ? String(v) : null;
}

export function children(node: unknown, name: string): XmlNode[] {
  if (!node || typeof node !== 'object') return [];
  const v: unknown = (node as XmlNode)[name];
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? (v as unknown[]) : [v]).map((x) =>
    typeof x === 'object' && x !== null ? (x as XmlNode) : { '#text': scalar(x) },
  );
}

export function attr(node: unknown, name: string): string | null {
  if (!node || typeof node !== 'object') return null;
  return scalar((node as XmlNode)[ATTR + name]);
}

export function text(node: unknown): string | null {
  if (node === undefined || node === null) return null;
  if (typeof node !== 'object') return scalar(node);
  return scalar((node as XmlNode)['#text']);
}
