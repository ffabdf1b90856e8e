import * as vscode from 'vscode';
import { Disposable } from './dispose';

interface Tracked {
  start: number;
  end: number;
  /** An edit overlapped the range: where its text went is unknown. */
  touched: boolean;
  /** Follow the two ends as separate points (a selection), never "touched". */
  points: boolean;
}

/**
 * Follows ranges of one document through its edits, as offsets: an edit before a range moves it,
 * an edit after it (or at its end) leaves it, and an edit that overlaps it marks it touched. Run on
 * Selection uses it to put answers where their prompts are now, and to divert an answer only when
 * its own text was edited during the run. Selections are followed as two points instead, which
 * text inserted exactly at them does not move (so an answer inserted at a selection's end stays
 * outside it).
 *
 * Invariant: changes are applied in the order of the event, as VS Code's extension host applies
 * them to its own copy of the document (each change is relative to the document after the ones
 * before it).
 */
export class RangeTracker extends Disposable {
  private readonly ranges: Tracked[] = [];

  constructor(private readonly doc: vscode.TextDocument) {
    super();
    this._register(
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document === doc) for (const change of e.contentChanges) this.apply(change);
      }),
    );
  }

  /** Starts following `range` (as two points with `points`); returns its index for {@link get}. */
  add(range: vscode.Range, points = false): number {
    this.ranges.push({ start: this.doc.offsetAt(range.start), end: this.doc.offsetAt(range.end), touched: false, points });
    return this.ranges.length - 1;
  }

  /** Where the range is now, or undefined when an edit touched it. */
  get(index: number): vscode.Range | undefined {
    const r = this.ranges[index];
    if (!r || r.touched) return undefined;
    return new vscode.Range(this.doc.positionAt(r.start), this.doc.positionAt(r.end));
  }

  private apply(change: vscode.TextDocumentContentChangeEvent): void {
    const from = change.rangeOffset;
    const to = from + change.rangeLength;
    const delta = change.text.length - change.rangeLength;
    const move = (p: number) => (to <= p ? (from < p ? p + delta : p) : from < p ? from + change.text.length : p);
    for (const r of this.ranges) {
      if (r.points) {
        r.start = move(r.start);
        r.end = move(r.end);
        continue;
      }
      if (r.touched || from >= r.end) continue; // after the range, or an insertion at its end
      if (to <= r.start) {
        r.start += delta;
        r.end += delta;
      } else {
        r.touched = true;
      }
    }
  }
}
