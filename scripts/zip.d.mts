/** Every file of a zip (a VSIX), with its bytes. */
export declare function readZip(file: string): Promise<{ name: string; bytes: Buffer; mtime: Date }[]>;
