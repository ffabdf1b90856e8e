// Provider profiles (src/core/profiles.ts): parsing, trust layers, Azure endpoints, fastllm.json errors, keys from the environment.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseConfigFile,
  parseProfiles,
  ProfileError,
  profileEndpoint,
  profileKeyFromEnv,
  profileKeyId,
  resolveProfiles,
} from '../../src/core/profiles';

const local = { baseUrl: 'http://127.0.0.1:11434/v1/', model: 'llama3', rpm: 60 };
const azure = { kind: 'azure', baseUrl: 'https://res.openai.azure.com', deployment: 'gpt4o', apiVersion: '2024-10-21' };

void describe('parseProfiles', () => {
  it('reads the object form and the array form alike, and trims trailing slashes', () => {
    const a = parseProfiles({ local, az: azure }, 'settings');
    const b = parseProfiles([{ name: 'local', ...local }, { name: 'az', ...azure }], 'settings');
    assert.deepEqual(a, b);
    assert.deepEqual(a[0], { name: 'local', kind: 'openai-compatible', baseUrl: 'http://127.0.0.1:11434/v1', model: 'llama3', rpm: 60 });
    assert.equal(a[1]!.kind, 'azure');
  });

  it('needs no baseUrl for vscode-lm', () => {
    assert.deepEqual(parseProfiles({ copilot: { kind: 'vscode-lm', vendor: 'copilot', model: 'gpt-4o' } }, 's'), [
      { name: 'copilot', kind: 'vscode-lm', vendor: 'copilot', model: 'gpt-4o' },
    ]);
  });

  const bad: [string, unknown, RegExp][] = [
    ['no baseUrl', { x: { model: 'm' } }, /settings: profile "x" has no "baseUrl"/],
    ['a bad kind', { x: { ...local, kind: 'anthropic' } }, /"kind" must be one of openai-compatible, azure, vscode-lm/],
    ['a key in the profile', { x: { ...local, apiKey: 'sk-secret-value' } }, /API keys never go in profiles/],
    ['an unknown key', { x: { ...local, baseURL: 'x' } }, /unknown key "baseURL"/],
    ['a non-http URL', { x: { baseUrl: 'ftp://h/v1' } }, /must start with http/],
    ['credentials in the URL', { x: { baseUrl: 'https://u:p@h/v1' } }, /user name or password/],
    ['a bad rpm', { x: { ...local, rpm: -1 } }, /"rpm" must be a whole number above 0/],
    ['an azure profile without deployment', { x: { kind: 'azure', baseUrl: 'https://r.openai.azure.com' } }, /needs "deployment"/],
    ['an array entry without name', [{ ...local }], /profile #1 has no "name"/],
    ['two of a name', [{ name: 'a', ...local }, { name: 'a', ...local }], /two profiles are named "a"/],
    ['a header that is not a string', { x: { ...local, extraHeaders: { 'x-a': 1 } } }, /header "x-a" must be a string/],
  ];
  for (const [what, raw, message] of bad) {
    it(`refuses ${what}, naming where`, () => {
      assert.throws(() => parseProfiles(raw, 'settings'), (e: unknown) => e instanceof ProfileError && message.test(e.message) && !/sk-secret-value/.test(e.message));
    });
  }
});

void describe('resolveProfiles (trust and layers)', () => {
  it('no profile named: the plain settings apply', () => {
    const r = resolveProfiles({ user: { local } }, {}, true);
    assert.equal(r.active, undefined);
    assert.deepEqual(r.problems, []);
    assert.equal(r.profiles.length, 1);
  });

  it('a trusted workspace adds profiles and picks one; its profile overrides a user profile of the same name', () => {
    const r = resolveProfiles(
      { user: { local, other: local }, workspace: { local: { baseUrl: 'http://127.0.0.1:8000/v1' } } },
      { user: 'other', workspace: 'local' },
      true,
    );
    assert.equal(r.active?.name, 'local');
    assert.equal(r.active?.baseUrl, 'http://127.0.0.1:8000/v1');
    assert.deepEqual(r.problems, []);
  });

  it('an untrusted workspace: its profiles and its choice are ignored, and the user is told', () => {
    const r = resolveProfiles(
      { user: { local }, workspace: { evil: { baseUrl: 'https://attacker.example/v1' }, local: { baseUrl: 'https://attacker.example/v1' } } },
      { user: 'local', workspace: 'evil' },
      false,
    );
    assert.equal(r.active?.name, 'local');
    assert.equal(r.active?.baseUrl, 'http://127.0.0.1:11434/v1');
    assert.ok(!r.profiles.some((p) => p.baseUrl?.includes('attacker')));
    assert.match(r.problems.join('\n'), /ignored until you trust the workspace/);
  });

  it('an untrusted workspace that only names a profile of the user: not used either', () => {
    const r = resolveProfiles({ user: { local } }, { workspace: 'local' }, false);
    assert.equal(r.active, undefined);
    assert.match(r.problems.join('\n'), /ignored until you trust/);
  });

  it('a missing profile: no active profile, and a problem that lists the known ones', () => {
    const r = resolveProfiles({ user: { local } }, { user: 'gone' }, true);
    assert.equal(r.active, undefined);
    assert.deepEqual(r.problems, ['no profile named "gone" in fastllm.profiles (profiles: local)']);
  });

  it('a bad layer is reported and its profiles are not used', () => {
    const r = resolveProfiles({ user: { local }, workspace: { x: { model: 'm' } } }, { user: 'local' }, true);
    assert.equal(r.active?.name, 'local');
    assert.match(r.problems[0]!, /workspace settings fastllm.profiles: profile "x" has no "baseUrl"/);
  });
});

void describe('profileEndpoint', () => {
  it('azure: resource + deployment become the deployment URL, with the API version', () => {
    const [p] = parseProfiles({ az: azure }, 's');
    assert.deepEqual(profileEndpoint(p!), { baseURL: 'https://res.openai.azure.com/openai/deployments/gpt4o', azure: { apiVersion: '2024-10-21' } });
    assert.equal(profileEndpoint(p!, 'other-dep').baseURL, 'https://res.openai.azure.com/openai/deployments/other-dep');
  });
  it('openai-compatible: the base URL as is', () => {
    const [p] = parseProfiles({ local }, 's');
    assert.deepEqual(profileEndpoint(p!), { baseURL: 'http://127.0.0.1:11434/v1' });
  });
  it('vscode-lm has no HTTP endpoint', () => {
    const [p] = parseProfiles({ c: { kind: 'vscode-lm' } }, 's');
    assert.throws(() => profileEndpoint(p!), /no HTTP endpoint/);
  });
});

void describe('keys', () => {
  it('one SecretStorage id per profile; the default profile keeps the per-URL key', () => {
    const [p] = parseProfiles({ local }, 's');
    assert.equal(profileKeyId(p), 'profile:local');
    assert.equal(profileKeyId(undefined), undefined);
  });
  it('from the environment: apiKeyEnv, else FASTLLM_API_KEY, else OPENAI_API_KEY', () => {
    const [p] = parseProfiles({ x: { ...local, apiKeyEnv: 'LOCAL_KEY' } }, 's');
    assert.deepEqual(profileKeyFromEnv(p, { LOCAL_KEY: 'k1', FASTLLM_API_KEY: 'k2' }), { key: 'k1', from: 'LOCAL_KEY' });
    assert.deepEqual(profileKeyFromEnv(p, { FASTLLM_API_KEY: 'k2' }), { key: undefined, from: 'LOCAL_KEY' });
    assert.deepEqual(profileKeyFromEnv(undefined, { FASTLLM_API_KEY: 'k2', OPENAI_API_KEY: 'k3' }), { key: 'k2', from: 'FASTLLM_API_KEY' });
    assert.deepEqual(profileKeyFromEnv(undefined, { OPENAI_API_KEY: 'k3' }), { key: 'k3', from: 'OPENAI_API_KEY' });
  });
});

void describe('parseConfigFile (fastllm.json)', () => {
  it('reads profiles and the default profile', () => {
    const c = parseConfigFile(JSON.stringify({ profile: 'local', profiles: { local } }), '/p/fastllm.json');
    assert.equal(c.profile, 'local');
    assert.equal(c.profiles[0]!.baseUrl, 'http://127.0.0.1:11434/v1');
  });
  it('a JSON syntax error names the file, line and column', () => {
    const text = '{\n  "profiles": {\n    "local": { "baseUrl": "http://127.0.0.1/v1" }\n    "x": {}\n  }\n}\n';
    assert.throws(() => parseConfigFile(text, '/p/fastllm.json'), (e: unknown) => e instanceof ProfileError && /^\/p\/fastllm\.json:4:5: not valid JSON/.test(e.message));
  });
  it('an unknown top-level key, a bad profile and a missing default profile name the file', () => {
    assert.throws(() => parseConfigFile('{"baseUrl": "x"}', 'f.json'), /^Error: f\.json: unknown key "baseUrl"|f\.json: unknown key "baseUrl"/);
    assert.throws(() => parseConfigFile('{"profiles": {"a": {}}}', 'f.json'), /f\.json: profile "a" has no "baseUrl"/);
    assert.throws(() => parseConfigFile(JSON.stringify({ profile: 'b', profiles: { local } }), 'f.json'), /f\.json: "profile": no profile named "b"/);
    assert.throws(() => parseConfigFile('[]', 'f.json'), /f\.json: must hold a JSON object/);
  });
});
