import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

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
  if (bindings && ts.isNamedImports(bindings))
    names.push(...bindings.elements.filter((e) => !e.isTypeOnly).map((e) => (e.propertyName ?? e.name).text));
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
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      add(node.arguments[0].text, ['*']);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

const ALL = filesUnder('src').flatMap(importsOf);
const ours = (i: Import) => i.target.startsWith('src/');

/**
 * src/graphql/x.ts → graphql; src/config.ts → config (a leaf anyone may read); the other files at the top
 * (cli, main, remove) → entry.
 */
function layerOf(path: string): string | null {
  if (!path.startsWith('src/')) return null;
  if (path === 'src/config.ts') return 'config';
  const parts = path.split('/');
  return parts.length === 2 ? 'entry' : parts[1]!;
}

/**
 * Imports point only downwards, to a lower rank: entry → http → graphql → services → host → libvirt, db →
 * model. Layers of one rank (libvirt/, db/) do not import each other. config.ts stands aside: it imports nothing
 * of the project and every layer may read it.
 */
const RANK: Record<string, number> = { entry: 6, http: 5, graphql: 4, services: 3, host: 2, libvirt: 1, db: 1, model: 0 };

test('every directory of src/ has its place in the layering', () => {
  const dirs = readdirSync('src', { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  assert.deepEqual(
    dirs.filter((d) => RANK[d] === undefined),
    [],
  );
});

const show = (imports: Import[]) =>
  imports.map((i) => `${i.file} imports ${i.target}${i.values.length ? ` (${i.values.join(', ')})` : ' (types)'}`);

test('imports point only downwards: entry → http → graphql → services → host → libvirt, db → model', () => {
  const upward = ALL.filter((i) => {
    const from = layerOf(i.file);
    const to = layerOf(i.target);
    if (from === null || to === null || from === to || to === 'config') return false;
    if (from === 'config') return true;
    return RANK[to]! >= RANK[from]!;
  });
  assert.deepEqual(show(upward), []);
});

test('config.ts is a leaf and model/ imports nothing outside itself: both are read by every layer', () => {
  const offending = ALL.filter(
    (i) =>
      ours(i) && ((layerOf(i.file) === 'config' && i.target !== i.file) || (layerOf(i.file) === 'model' && layerOf(i.target) !== 'model')),
  );
  assert.deepEqual(show(offending), []);
});

test('services/ knows no GraphQL and no D-Bus: it imports neither graphql, yoga, Pothos nor dbus-next', () => {
  const offending = ALL.filter(
    (i) => layerOf(i.file) === 'services' && /^(graphql|graphql-yoga|graphql-ws|@pothos\/|dbus-next)/.test(i.target),
  );
  assert.deepEqual(show(offending), []);
});

test('only src/libvirt/ imports dbus-next', () => {
  const offending = ALL.filter((i) => i.target === 'dbus-next' && layerOf(i.file) !== 'libvirt');
  assert.deepEqual(show(offending), []);
});

test('graphql/ imports services/ and model/, and never libvirt/, host/, db/, SQLite or D-Bus', () => {
  const offending = ALL.filter(
    (i) =>
      layerOf(i.file) === 'graphql' &&
      (['libvirt', 'host', 'db'].includes(layerOf(i.target) ?? '') || /^(dbus-next|drizzle-orm|better-sqlite3)/.test(i.target)),
  );
  assert.deepEqual(show(offending), []);
});

test('libvirt XML is built and parsed only inside src/libvirt/ (everyone else hands it typed specs from model/)', () => {
  const offending = ALL.filter((i) => !i.file.startsWith('src/libvirt/') && i.target.startsWith('src/libvirt/xml/'));
  assert.deepEqual(show(offending), []);
});

const MODULES = readdirSync('src/services', { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => `src/services/${e.name}/`);
const moduleOf = (path: string) => MODULES.find((m) => path.startsWith(m)) ?? null;

test('modules by domain (a folder under services/) are imported from outside only through their index.ts', () => {
  assert.ok(
    MODULES.includes('src/services/console/') && MODULES.includes('src/services/domains/'),
    'the check sees the modules it is about',
  );
  const offending = ALL.filter((i) => {
    const m = moduleOf(i.target);
    return m !== null && !i.file.startsWith(m) && i.target !== `${m}index.ts`;
  });
  assert.deepEqual(show(offending), []);
});

/** Import cycles in a graph (node → nodes it imports): each cycle's nodes, in the order found. */
function cyclesOf(graph: Map<string, Set<string>>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return cycles;
}

function graphOf(edges: [string, string][]): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const [from, to] of edges) if (from !== to) graph.set(from, (graph.get(from) ?? new Set()).add(to));
  return graph;
}

test('no import cycles between files of src/ (type-only imports included)', () => {
  const cycles = cyclesOf(graphOf(ALL.filter(ours).map((i) => [i.file, i.target])));
  assert.deepEqual(
    cycles.map((c) => c.join(' → ')),
    [],
  );
});

test('no cycles between the modules of services/: each builds only on modules below it', () => {
  const edges = ALL.flatMap((i): [string, string][] => {
    const from = moduleOf(i.file);
    const to = moduleOf(i.target);
    return from && to ? [[from, to]] : [];
  });
  assert.ok(edges.length > 0, 'the check sees imports between modules');
  const cycles = cyclesOf(graphOf(edges));
  assert.deepEqual(
    cycles.map((c) => c.join(' → ')),
    [],
  );
});

test('services/ import neither drizzle-orm, SQLite nor the tables: every query lives in a db/ store', () => {
  const offending = ALL.filter(
    (i) =>
      layerOf(i.file) === 'services' &&
      (/^(drizzle-orm|better-sqlite3)/.test(i.target) || i.target === 'src/db/schema.ts' || i.target.startsWith('src/db/tables/')),
  );
  assert.deepEqual(show(offending), []);
});
