// What platform a native module was built for, read from its header (ELF, PE, Mach-O), and the
// VS Code targets FastLLM packages for. Used by scripts/package.mjs so that a VSIX never carries
// another platform's node_sqlite3.node.

/** VS Code targets (vsce --target) that FastLLM builds, with what their native module must be. */
export const TARGETS = {
  'linux-x64': { format: 'elf', arch: 'x64', libc: 'glibc', prebuilt: 'linux-x64' },
  'linux-arm64': { format: 'elf', arch: 'arm64', libc: 'glibc', prebuilt: 'linux-arm64' },
  'alpine-x64': { format: 'elf', arch: 'x64', libc: 'musl', prebuilt: 'linuxmusl-x64' },
  'darwin-x64': { format: 'macho', arch: 'x64', prebuilt: 'darwin-x64' },
  'darwin-arm64': { format: 'macho', arch: 'arm64', prebuilt: 'darwin-arm64' },
  'win32-x64': { format: 'pe', arch: 'x64', prebuilt: 'win32-x64' },
};

const ELF_MACHINES = { 0x3e: 'x64', 0xb7: 'arm64', 0x28: 'arm', 0x03: 'ia32' };
const PE_MACHINES = { 0x8664: 'x64', 0xaa64: 'arm64', 0x14c: 'ia32' };
const MACHO_CPUS = { 0x01000007: 'x64', 0x0100000c: 'arm64' };

/**
 * The format, architectures and (for ELF) C library of a native module's bytes, or null when it
 * is none of ELF, PE or Mach-O.
 * @returns {{ format: 'elf'|'pe'|'macho', arches: string[], libc?: 'glibc'|'musl' } | null}
 */
export function describeBinary(buf) {
  if (buf.length >= 20 && buf[0] === 0x7f && buf.toString('latin1', 1, 4) === 'ELF') {
    const little = buf[5] === 1;
    const machine = little ? buf.readUInt16LE(18) : buf.readUInt16BE(18);
    // A musl build links against libc.musl-<arch>.so.1 (its DT_NEEDED names it); glibc's against libc.so.6.
    const text = buf.toString('latin1');
    const libc = /libc\.musl|ld-musl/.test(text) ? 'musl' : 'glibc';
    return { format: 'elf', arches: [ELF_MACHINES[machine] ?? `elf-machine-${machine}`], libc };
  }
  if (buf.length >= 64 && buf.toString('latin1', 0, 2) === 'MZ') {
    const pe = buf.readUInt32LE(0x3c);
    if (pe + 6 <= buf.length && buf.toString('latin1', pe, pe + 4) === 'PE\0\0') {
      const machine = buf.readUInt16LE(pe + 4);
      return { format: 'pe', arches: [PE_MACHINES[machine] ?? `pe-machine-${machine}`] };
    }
  }
  if (buf.length >= 8 && buf.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = buf.readUInt32LE(4);
    return { format: 'macho', arches: [MACHO_CPUS[cpu] ?? `macho-cpu-${cpu}`] };
  }
  if (buf.length >= 8 && buf.readUInt32BE(0) === 0xcafebabe) {
    // A universal binary: one slice per architecture (20 bytes each, big-endian).
    const n = buf.readUInt32BE(4);
    const arches = [];
    for (let i = 0; i < n && 8 + i * 20 + 4 <= buf.length; i++) arches.push(MACHO_CPUS[buf.readUInt32BE(8 + i * 20)] ?? 'unknown');
    return { format: 'macho', arches };
  }
  return null;
}

/** Why `buf` cannot be shipped for `target`, or null when it is that target's. */
export function mismatch(buf, target) {
  const want = TARGETS[target];
  if (!want) return `unknown target ${target}`;
  const got = describeBinary(buf);
  if (!got) return 'it is not a native module (no ELF, PE or Mach-O header)';
  const what = `${got.format} ${got.arches.join('+')}${got.libc ? ` ${got.libc}` : ''}`;
  if (got.format !== want.format || !got.arches.includes(want.arch) || (want.libc && got.libc !== want.libc)) {
    return `it is built for ${what}, not ${target}`;
  }
  return null;
}

/** The target this machine's own build is for (node_modules/sqlite3/build/Release), from its bytes. */
export function targetOf(buf) {
  return Object.keys(TARGETS).find((t) => mismatch(buf, t) === null) ?? null;
}
