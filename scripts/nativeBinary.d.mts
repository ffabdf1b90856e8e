export type Target = 'linux-x64' | 'linux-arm64' | 'alpine-x64' | 'darwin-x64' | 'darwin-arm64' | 'win32-x64';
export declare const TARGETS: Record<Target, { format: 'elf' | 'pe' | 'macho'; arch: string; libc?: 'glibc' | 'musl'; prebuilt: string }>;
export declare function describeBinary(buf: Buffer): { format: 'elf' | 'pe' | 'macho'; arches: string[]; libc?: 'glibc' | 'musl' } | null;
export declare function mismatch(buf: Buffer, target: string): string | null;
export declare function targetOf(buf: Buffer): Target | null;
