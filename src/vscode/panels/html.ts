import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';

/** The one folder webviews may load from: the bundled page scripts and CSS. */
export function mediaRoot(extensionUri: vscode.Uri): vscode.Uri {
  return vscode.Uri.joinPath(extensionUri, 'dist', 'media');
}

/** Webview options shared by both panels: scripts on, resources only from {@link mediaRoot}. */
export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions & vscode.WebviewPanelOptions {
  return { enableScripts: true, localResourceRoots: [mediaRoot(extensionUri)] };
}

/**
 * A page: strict CSP (`default-src 'none'`, our stylesheets, our script by nonce, no network), the
 * shared stylesheet, the page's own (`stylesheet`, a file of {@link mediaRoot}) and one page script.
 * `body` is trusted markup written in this repository; everything dynamic is filled in by the page
 * script with `textContent`.
 */
export function pageHtml(webview: vscode.Webview, extensionUri: vscode.Uri, opts: { title: string; script: string; body: string; stylesheet?: string }): string {
  const nonce = randomBytes(16).toString('base64');
  const root = mediaRoot(extensionUri);
  const css = webview.asWebviewUri(vscode.Uri.joinPath(root, 'webview.css'));
  const js = webview.asWebviewUri(vscode.Uri.joinPath(root, opts.script));
  // The page's own stylesheet, on top of the shared one (allowed by the CSP's style-src).
  const own = opts.stylesheet ? `\n<link rel="stylesheet" href="${webview.asWebviewUri(vscode.Uri.joinPath(root, opts.stylesheet)).toString()}">` : '';
  const csp = [
    "default-src 'none'",
    `style-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
    `img-src ${webview.cspSource} data:`,
    `font-src ${webview.cspSource}`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${css.toString()}">${own}
<title>${opts.title}</title>
</head>
<body>
${opts.body}
<script nonce="${nonce}" src="${js.toString()}"></script>
</body>
</html>`;
}
