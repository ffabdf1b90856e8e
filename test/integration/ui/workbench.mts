/**
 * Playwright helpers for the VS Code workbench (1.100): the command palette, the status bar,
 * notifications, editors and webviews. Selectors are VS Code's own DOM classes.
 */
import type { Frame, Locator, Page } from 'playwright-core';

/** When the last palette command was run (epoch ms), in any window: what a run's end is waited for after. */
let lastCommand = 0;

export function lastCommandAt(): number {
  return lastCommand;
}

export class Workbench {
  constructor(readonly page: Page) {}

  /** Waits until the workbench is drawn and, if given, an extension's status bar item shows. */
  async ready(extensionId?: string): Promise<void> {
    await this.page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    await this.page.locator('.statusbar').waitFor();
    if (extensionId) await this.statusItems(extensionId).first().waitFor({ timeout: 60_000 });
  }

  /**
   * Runs a command from the F1 palette by its title, e.g. `FastLLM: Show Token Stats`. Right
   * after the window opens the palette may not list extension commands yet (they arrive with the
   * remote extension host): if the row does not show, close the palette and try again.
   */
  async runCommand(title: string, timeout = 30_000): Promise<void> {
    const input = this.page.locator('.quick-input-widget input');
    const row = this.page.locator(`.quick-input-list .monaco-list-row[aria-label^="${cssString(title)}"]`).first();
    const deadline = Date.now() + timeout;
    lastCommand = Date.now();
    for (;;) {
      await this.page.keyboard.press('F1');
      try {
        await input.waitFor({ state: 'visible', timeout: 3000 });
        // Short timeouts: the palette can close under us (focus moved), and then the loop below
        // opens it again, which Playwright's default 30 s wait on a hidden input never does.
        await input.fill(`>${title}`, { timeout: 3000 });
        await row.click({ timeout: 3000 });
        break;
      } catch (e) {
        // Not listed yet, or the palette closed because focus moved (an editor or a
        // notification opened): start over.
        if (Date.now() > deadline) throw e;
        console.log(`      (palette: retrying "${title}": ${(e as Error).message.split('\n')[0]})`);
        await this.page.keyboard.press('Escape');
        await this.page.waitForTimeout(300);
      }
    }
    // The palette goes: hidden, or taken over by a quick pick the command opens at once (VS Code's
    // own, e.g. Open Walkthrough…), which clears our text. Waiting for "hidden" alone cost 30 s there.
    const gone = Date.now() + 30_000;
    while (Date.now() < gone) {
      if (!(await input.isVisible())) break;
      if ((await input.inputValue().catch(() => '')) !== `>${title}`) break;
      await this.page.waitForTimeout(50);
    }
  }

  /** The visible quick input (palette, quick pick or input box). */
  get quickInput(): Locator {
    return this.page.locator('.quick-input-widget');
  }

  /** Types `text` into the open input box or quick pick filter and presses Enter. */
  async answerInput(text: string): Promise<void> {
    const input = this.page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill(text);
    await this.page.keyboard.press('Enter');
  }

  /** Picks the row of the open quick pick whose label contains `label`. */
  async pick(label: string): Promise<void> {
    const row = this.page.locator(`.quick-input-list .monaco-list-row[aria-label*="${cssString(label)}"]`).first();
    await row.waitFor({ state: 'visible' });
    await row.click();
  }

  /** The status bar. */
  get statusBar(): Locator {
    return this.page.locator('.statusbar');
  }

  /** The status bar entries an extension contributed (their DOM id is `<extensionId>.<itemId>`). */
  statusItems(extensionId: string): Locator {
    return this.page.locator(`.statusbar-item[id^="${cssString(extensionId)}"]`);
  }

  /** Texts of the visible notification toasts. */
  async notifications(): Promise<string[]> {
    return this.page.locator('.notifications-toasts .notification-list-item-message').allInnerTexts();
  }

  /** Presses the primary button of the visible modal dialog whose text contains `text`. */
  async confirmDialog(button: string): Promise<void> {
    const dialog = this.page.locator('.monaco-dialog-box');
    await dialog.waitFor({ state: 'visible' });
    await dialog.locator('.dialog-buttons a, .dialog-buttons .monaco-button', { hasText: button }).first().click();
  }

  /** The tab of an open editor whose label contains `label`. */
  tab(label: string): Locator {
    return this.page.locator(`.tabs-container .tab[aria-label*="${cssString(label)}"]`);
  }

  /**
   * Opens a file of the workspace root by clicking it in the Explorer, and waits until its editor
   * is the active one. (Quick Open is less reliable here: its file list can be stale for files
   * written during the run, and Ctrl+P may land in a focused webview.) With `view`, waits for the
   * tab only: a `*.results.jsonl` opens in the Results view (a custom editor), not a text editor.
   */
  async openFile(name: string, options: { view?: boolean } = {}): Promise<void> {
    const explorer = this.page.locator('.explorer-folders-view');
    if (!(await explorer.isVisible())) await this.page.keyboard.press('Control+Shift+E');
    const row = explorer.locator('.monaco-list-row', { has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRegExp(name)}$`) }) });
    try {
      await row.first().waitFor({ state: 'visible', timeout: 5000 });
    } catch {
      // A file written after the window opened shows when the watcher says so: ask now.
      await this.runCommand('File: Refresh Explorer');
      await row.first().waitFor({ state: 'visible', timeout: 15_000 });
    }
    // The Explorer's rows can move under the click: a file above removed or added as the watcher
    // reports it (a test's clean-up just before) opens the row below or above. Then click again.
    const deadline = Date.now() + 20_000;
    for (;;) {
      await row.first().click();
      try {
        await this.activeTab(name).waitFor({ timeout: 3000 });
        break;
      } catch (e) {
        if (Date.now() > deadline) throw e;
      }
    }
    if (options.view) return;
    await this.page.locator('.editor-group-container.active .editor-instance .monaco-editor .view-lines').first().waitFor();
  }

  /** The active editor tab, if its label is `label`. */
  activeTab(label: string): Locator {
    return this.page.locator('.editor-group-container.active .tabs-container .tab.active', { has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRegExp(label)}$`) }) });
  }

  /**
   * The frame of a webview whose page holds `selector` (e.g. `[data-testid="stats"]`). A webview
   * is two nested iframes (`iframe.webview` → `iframe#active-frame`); hidden panels stay in the
   * DOM, so this picks the frame that has the element, and waits for it to appear. The first
   * webview of a session can take tens of seconds on a loaded 2-core machine (seen in CI).
   */
  async webview(selector: string, timeout = 45_000): Promise<Frame> {
    const deadline = Date.now() + timeout;
    for (;;) {
      for (const frame of this.page.frames()) {
        if (frame === this.page.mainFrame() || frame.isDetached()) continue;
        try {
          if ((await frame.locator(selector).count()) > 0) return frame;
        } catch {
          // the frame navigated or went away while we looked
        }
      }
      if (Date.now() > deadline) throw new Error(`no webview holds ${selector} after ${timeout} ms`);
      await this.page.waitForTimeout(200);
    }
  }
}

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Escapes a value for a double-quoted CSS attribute selector. */
function cssString(value: string): string {
  return value.replace(/["\\]/g, '\\$&');
}
