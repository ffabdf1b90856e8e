/** The code-server version the integration tests pin (VS Code 1.100, Node 20). */
export declare const CODE_SERVER_VERSION: string;
/** Where code-server is installed: .vscode-test/code-server, or $CODE_SERVER_DIR. */
export declare const codeServerDir: string;
/** code-server's entry point, to run with `node`. */
export declare const codeServerBin: string;
/** True when the pinned version is installed. */
export declare function isInstalled(): boolean;
/** Installs the pinned code-server unless it is there already (or `force`). Throws on failure. */
export declare function install(options?: { force?: boolean }): void;
