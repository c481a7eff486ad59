import { XMLBuilder } from 'fast-xml-parser';
import { ATTR, type XmlNode } from './parser.js';

/** Attributes are keys prefixed with ATTR ('@_'); text and attribute values are escaped by the builder. */
const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  format: true,
  suppressEmptyNode: true,
  suppressBooleanAttributes: false,
});

export function buildXml(tree: XmlNode): string {
  return builder.build(tree) as string;
}
