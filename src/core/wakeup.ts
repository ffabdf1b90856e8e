/**
 * A level-free "something changed" signal: `wait()` resolves at the next `notify()`. Loops that
 * re-check their condition after every wake-up use it instead of polling.
 */
export class Wakeup {
  private waiters: (() => void)[] = [];

  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  notify(): void {
    if (this.waiters.length === 0) return;
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}
