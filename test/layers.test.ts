import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import * as libvirtConstants from '../src/libvirt/constants.js';

/** One import (or re-export) of a file under src/: `target` is a path under src/ for our modules, else the package. */
interface Import {
  file: string;
  target: string;
  /** Names taken as values; empty when the import is type-only. */
  values: string[];
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

function valuesOf(clause: ts.ImportClause | ts.NamedExportBindings | undefined, typeOnly: boolean): string[] {
  if (typeOnly) return [];
  if (!clause) return ['*']; // a side-effect import or `export *`
  if (ts.isNamespaceImport(clause) || ts.isNamespaceExport(clause)) return ['*'];
  if (ts.isNamedExports(clause)) return clause.elements.filter((e) => !e.isTypeOnly).map((e) => (e.propertyName ?? e.name).text);
  const names = clause.name ? ['default'] : [];
  const bindings = clause.namedBindings;
  if (bindings && ts.isNamespaceImport(bindings)) names.push('*');
  if (bindings && ts.isNamedImports(bindings)) names.push(...bindings.elements.filter((e) => !e.isTypeOnly).map((e) => (e.propertyName ?? e.name).text));
  return names;
}

function importsOf(file: string): Import[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const out: Import[] = [];
  const add = (spec: string, values: string[]) => {
    const target = spec.startsWith('.') ? relative('.', join(dirname(file), spec)).replace(/\.js$/, '.ts') : spec;
    out.push({ file, target, values });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, valuesOf(node.importClause, node.importClause?.isTypeOnly ?? false));
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, valuesOf(node.exportClause, node.isTypeOnly));
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      add(node.arguments[0].text, ['*']);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

const ALL = filesUnder('src').flatMap(importsOf);

/** src/graphql/x.ts → graphql; src/server.ts → entry (cli, main, server, config: the top). */
function layerOf(path: string): string | null {
  if (!path.startsWith('src/')) return null;
  const parts = path.split('/');
  return parts.length === 2 ? 'entry' : parts[1]!;
}

/** Imports point only downwards: entry → graphql → services → libvirt, firewall, db. */
const RANK: Record<string, number> = { entry: 4, graphql: 3, http: 3, services: 2, libvirt: 1, firewall: 1, db: 1 };

test('every directory of src/ has its place in the layering', () => {
  const dirs = readdirSync('src', { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  assert.deepEqual(dirs.filter((d) => RANK[d] === undefined), []);
});

const show = (imports: Import[]) => imports.map((i) => `${i.file} imports ${i.target}${i.values.length ? ` (${i.values.join(', ')})` : ' (types)'}`);

test('imports point only downwards: libvirt/, db/ and firewall/ never import services/ or graphql/, services/ never graphql/', () => {
  const upward = ALL.filter((i) => {
    const from = layerOf(i.file);
    const to = layerOf(i.target);
    return from !== null && to !== null && RANK[to]! > RANK[from]!;
  });
  assert.deepEqual(show(upward), []);
});

test('services/ knows no GraphQL and no D-Bus: it imports neither graphql, yoga, Pothos nor dbus-next', () => {
  const offending = ALL.filter((i) => layerOf(i.file) === 'services' && /^(graphql|graphql-yoga|graphql-ws|@pothos\/|dbus-next)/.test(i.target));
  assert.deepEqual(show(offending), []);
});

test('only src/libvirt/ imports dbus-next', () => {
  const offending = ALL.filter((i) => i.target === 'dbus-next' && layerOf(i.file) !== 'libvirt');
  assert.deepEqual(show(offending), []);
});

test('graphql/ imports services/, and never db/, firewall/, SQLite or D-Bus', () => {
  const offending = ALL.filter(
    (i) => layerOf(i.file) === 'graphql' && (['db', 'firewall'].includes(layerOf(i.target) ?? '') || /^(dbus-next|drizzle-orm|better-sqlite3)/.test(i.target)),
  );
  assert.deepEqual(show(offending), []);
});

test("graphql/ takes from libvirt/ types, and as values only libvirt's name lists in libvirt/constants.ts", () => {
  const fromLibvirt = ALL.filter((i) => layerOf(i.file) === 'graphql' && layerOf(i.target) === 'libvirt');
  assert.ok(fromLibvirt.length > 0, 'the check sees the imports it is about');
  const constants = libvirtConstants as Record<string, unknown>;
  const isNameList = (name: string) => Array.isArray(constants[name]) && (constants[name] as unknown[]).every((n) => typeof n === 'string');
  const offending = fromLibvirt.filter((i) => i.values.length > 0 && (i.target !== 'src/libvirt/constants.ts' || !i.values.every(isNameList)));
  assert.deepEqual(show(offending), []);
});

test('services and resolvers never import libvirt XML building or parsing (they hand typed specs to src/libvirt)', () => {
  const offending = ALL.filter((i) => ['services', 'graphql'].includes(layerOf(i.file) ?? '') && i.target.startsWith('src/libvirt/xml/'));
  assert.deepEqual(show(offending), []);
});

test('modules by domain (a folder under services/) are imported from outside only through their index.ts', () => {
  const modules = readdirSync('src/services', { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `src/services/${e.name}/`);
  assert.ok(modules.includes('src/services/console/'), 'the check sees the console module');
  const offending = ALL.filter((i) => modules.some((m) => i.target.startsWith(m) && !i.file.startsWith(m) && i.target !== `${m}index.ts`));
  assert.deepEqual(show(offending), []);
});
