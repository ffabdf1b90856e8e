// Loads dist/extension.js in plain Node with a stub of the `vscode` module and calls activate(),
// as VS Code's extension host would; prints one JSON line: how long loading and activate() took,
// which modules were loaded, and which parts of the vscode API activate() touched.
// Usage: node bench/support/startupChild.cjs <dist/extension.js> <storage dir>
'use strict';
const Module = require('node:module');
const path = require('node:path');

const t0 = performance.now();
const [extensionFile, storageDir] = process.argv.slice(2);
const touched = new Set();

/** Anything not stubbed below: a callable, constructible, endlessly deep no-op that remembers its name. */
function deep(name) {
  const fn = function () {};
  return new Proxy(fn, {
    get(_t, prop) {
      if (prop === 'then' || typeof prop === 'symbol') return undefined;
      touched.add(`${name}.${String(prop)}`);
      return deep(`${name}.${String(prop)}`);
    },
    apply: () => deep(`${name}()`),
    construct: () => deep(`new ${name}`),
  });
}

/** An object whose missing members fall back to {@link deep}. */
function partial(name, members) {
  return new Proxy(members, {
    get(t, prop) {
      if (prop in t || typeof prop === 'symbol') return t[prop];
      if (prop === 'then') return undefined;
      touched.add(`${name}.${String(prop)}`);
      return deep(`${name}.${String(prop)}`);
    },
  });
}

const disposable = () => ({ dispose() {} });
class Disposable {
  constructor(fn) {
    this.fn = fn;
  }
  static from(...ds) {
    return new Disposable(() => ds.forEach((d) => d.dispose()));
  }
  dispose() {
    this.fn?.();
  }
}
class EventEmitter {
  listeners = new Set();
  event = (fn) => {
    this.listeners.add(fn);
    return { dispose: () => this.listeners.delete(fn) };
  };
  fire(e) {
    for (const l of this.listeners) l(e);
  }
  dispose() {
    this.listeners.clear();
  }
}
const event = () => () => disposable();
const uri = (p) => ({ scheme: 'file', fsPath: p, path: p, toString: () => `file://${p}`, with: () => uri(p) });
const Uri = { file: uri, from: (c) => ({ ...uri(c.path ?? ''), scheme: c.scheme }), parse: (s) => uri(s.replace(/^file:\/\//, '')), joinPath: (u, ...parts) => uri(path.join(u.fsPath, ...parts)) };
const channel = partial('OutputChannel', {
  name: 'FastLLM', logLevel: 2, onDidChangeLogLevel: event(),
  trace() {}, debug() {}, info() {}, warn() {}, error() {}, append() {}, appendLine() {}, replace() {}, clear() {}, show() {}, hide() {}, dispose() {},
});
const statusItem = () =>
  partial('StatusBarItem', { text: '', tooltip: undefined, command: undefined, name: undefined, show() {}, hide() {}, dispose() {} });

const vscode = partial('vscode', {
  version: '1.100.0',
  Disposable,
  EventEmitter,
  Uri,
  StatusBarAlignment: { Left: 1, Right: 2 },
  ViewColumn: { Active: -1, Beside: -2, One: 1, Two: 2 },
  ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
  EndOfLine: { LF: 1, CRLF: 2 },
  LogLevel: { Off: 0, Trace: 1, Debug: 2, Info: 3, Warning: 4, Error: 5 },
  ThemeColor: class { constructor(id) { this.id = id; } },
  ThemeIcon: class { constructor(id) { this.id = id; } },
  MarkdownString: class {
    constructor(value = '') { this.value = value; }
    appendMarkdown(s) { this.value += s; return this; }
    appendText(s) { this.value += s; return this; }
  },
  window: partial('window', {
    createOutputChannel: () => channel,
    createStatusBarItem: statusItem,
    registerWebviewPanelSerializer: disposable,
    showInformationMessage: async () => undefined,
    showWarningMessage: async () => undefined,
    showErrorMessage: async () => undefined,
    onDidChangeActiveTextEditor: event(),
    activeTextEditor: undefined,
  }),
  workspace: partial('workspace', {
    getConfiguration: () => ({ get: (_k, d) => d, has: () => false, inspect: () => undefined, update: async () => undefined }),
    onDidChangeConfiguration: event(),
    onDidGrantWorkspaceTrust: event(),
    registerTextDocumentContentProvider: disposable,
    workspaceFolders: undefined,
    isTrusted: true,
  }),
  commands: partial('commands', { registerCommand: disposable, executeCommand: async () => undefined }),
  env: partial('env', { language: 'en', appName: 'Visual Studio Code', uiKind: 1 }),
  extensions: partial('extensions', { getExtension: () => undefined }),
});

// `vscode` is resolved to a fixed id whose module is already in the require cache.
const VSCODE_ID = path.join(__dirname, '__vscode_stub__.js');
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === 'vscode' ? VSCODE_ID : resolveFilename.call(this, request, ...rest);
};
const stubModule = new Module(VSCODE_ID);
stubModule.filename = VSCODE_ID;
stubModule.loaded = true;
stubModule.exports = vscode;
require.cache[VSCODE_ID] = stubModule;

const memento = () => {
  const m = new Map();
  return { get: (k, d) => (m.has(k) ? m.get(k) : d), update: async (k, v) => void m.set(k, v), keys: () => [...m.keys()], setKeysForSync() {} };
};
const root = path.resolve(path.dirname(extensionFile), '..');
const context = partial('ExtensionContext', {
  subscriptions: [],
  extensionUri: uri(root),
  extensionPath: root,
  storageUri: uri(path.join(storageDir, 'workspace')),
  globalStorageUri: uri(path.join(storageDir, 'global')),
  logUri: uri(path.join(storageDir, 'log')),
  storagePath: path.join(storageDir, 'workspace'),
  globalStoragePath: path.join(storageDir, 'global'),
  extensionMode: 1,
  workspaceState: memento(),
  globalState: memento(),
  secrets: { get: async () => undefined, store: async () => undefined, delete: async () => undefined, onDidChange: event() },
  environmentVariableCollection: deep('environmentVariableCollection'),
  asAbsolutePath: (p) => path.join(root, p),
  extension: { id: 'fastllm.fastllm-vscode', extensionUri: uri(root), extensionPath: root, packageJSON: {} },
});

const before = new Set(Object.keys(require.cache));
const tRequire0 = performance.now();
const ext = require(path.resolve(extensionFile));
const requireMs = performance.now() - tRequire0;
const tActivate0 = performance.now();
const api = ext.activate(context);
const activateMs = performance.now() - tActivate0;
const loaded = Object.keys(require.cache).filter((k) => !before.has(k));

const out = {
  requireMs,
  activateMs,
  processMs: performance.now() - t0,
  loadedModules: loaded.map((k) => path.relative(root, k)),
  subscriptions: context.subscriptions.length,
  engineLoadedAfterActivate: typeof api?.engineLoaded === 'function' ? api.engineLoaded() : null,
  unstubbed: [...touched].sort(),
};

// First use: what loading the engine bundle costs, paid by the first run or cache look-up.
(async () => {
  if (typeof api?.cacheCount === 'function') {
    const t = performance.now();
    try {
      await api.cacheCount();
      out.firstCacheUseMs = performance.now() - t;
      out.loadedAfterFirstUse = Object.keys(require.cache)
        .filter((k) => !before.has(k))
        .map((k) => path.relative(root, k));
    } catch (e) {
      out.firstUseError = String(e && e.message ? e.message : e);
    }
  }
  for (const d of context.subscriptions) {
    try {
      d.dispose();
    } catch {
      /* measuring, not testing */
    }
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
})();
