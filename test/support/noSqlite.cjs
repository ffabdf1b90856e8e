/**
 * Preload (`FASTLLM_TEST_BLOCK_SQLITE3=1 node --require test/support/noSqlite.cjs …`) that makes
 * SQLite libraries unloadable, as
 * on a platform whose VSIX or install carries no sqlite3 binary built for it:
 * - `require('sqlite3')` always throws, as Node does when the addon is missing or built for
 *   another platform;
 * - `require('node:sqlite')` throws too when FASTLLM_TEST_NO_NODE_SQLITE=1 (as on Node 20).
 * Also used in-process: `require('../support/noSqlite.cjs').block()` / `.unblock()`.
 */
'use strict';
const Module = require('node:module');

const original = Module._load;
let blocked = false;

function block(options = {}) {
  if (blocked) return;
  blocked = true;
  const noNodeSqlite = options.nodeSqlite === false || process.env.FASTLLM_TEST_NO_NODE_SQLITE === '1';
  Module._load = function (request, ...rest) {
    if (request === 'sqlite3') {
      const e = new Error("Cannot find module 'sqlite3' (made unloadable by test/support/noSqlite.cjs)");
      e.code = 'MODULE_NOT_FOUND';
      throw e;
    }
    if (noNodeSqlite && (request === 'node:sqlite' || request === 'sqlite')) {
      const e = new Error('No such built-in module: node:sqlite (made unloadable by test/support/noSqlite.cjs)');
      e.code = 'ERR_UNKNOWN_BUILTIN_MODULE';
      throw e;
    }
    return original.call(this, request, ...rest);
  };
}

function unblock() {
  Module._load = original;
  blocked = false;
}

module.exports = { block, unblock };
// As a preload, it blocks at once when asked to through the environment.
if (process.env.FASTLLM_TEST_BLOCK_SQLITE3 === '1') block();
