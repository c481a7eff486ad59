import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

function tsFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFilesUnder(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** `assert(x)`, `assert.ok(x)` and `assert.strict.ok(x)` style calls given no message, as file:line. */
function unexplainedOks(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isCallExpression(node) && node.arguments.length < 2) {
      const callee = node.expression.getText(source);
      if (/^assert(\.strict)?(\.ok)?$/.test(callee))
        out.push(`${file}:${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

// A failing assert.ok() without a message makes node:assert build one from the caller's source: it reads the
// file on disk at the position V8 reports, which under tsx is a position in the compiled code, and parses an
// expression at every token up to it (nodejs/node#52962). That takes seconds for a short file and minutes for
// a long one: the test hangs at full CPU until it times out, instead of failing with the reason.
test('every assert.ok in the tests and benchmarks says what failed (a failing one without a message hangs under tsx)', () => {
  const found = ['test', 'bench'].flatMap((dir) => tsFilesUnder(dir)).flatMap(unexplainedOks);
  assert.deepEqual(found, [], 'give these a message as their second argument');
});
