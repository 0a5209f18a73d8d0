/**
 * A line diff (longest common subsequence) of two texts, as `diff -u` shows it: what the stored
 * YAML of a policy becomes with the operator's edit, before it is applied. Pure.
 *
 * The common prefix and suffix are taken off first, so the quadratic table only covers the lines
 * between the first and the last change; beyond MAX_CELLS the middle is shown as removed then
 * added, which is still a correct (if not minimal) diff.
 */

export type DiffOp = 'equal' | 'delete' | 'insert';

export interface DiffLine {
  op: DiffOp;
  text: string;
  /** 1-based line in the old text (equal and delete). */
  oldLine?: number;
  /** 1-based line in the new text (equal and insert). */
  newLine?: number;
}

export interface DiffHunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  lines: DiffLine[];
}

const MAX_CELLS = 4_000_000;

/** Lines of a text; a final newline does not start an empty last line. */
export function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export function lineDiff(before: string, after: string): DiffLine[] {
  const a = splitLines(before);
  const b = splitLines(after);
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) prefix++;
  let suffix = 0;
  while (suffix < a.length - prefix && suffix < b.length - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix++;

  const out: DiffLine[] = [];
  for (let i = 0; i < prefix; i++) out.push({ op: 'equal', text: a[i], oldLine: i + 1, newLine: i + 1 });

  const midA = a.slice(prefix, a.length - suffix);
  const midB = b.slice(prefix, b.length - suffix);
  const n = midA.length;
  const m = midB.length;
  if (n > 0 || m > 0) {
    if ((n + 1) * (m + 1) > MAX_CELLS) {
      midA.forEach((text, i) => out.push({ op: 'delete', text, oldLine: prefix + i + 1 }));
      midB.forEach((text, j) => out.push({ op: 'insert', text, newLine: prefix + j + 1 }));
    } else {
      // lcs[i][j]: length of the LCS of midA[i..] and midB[j..].
      const width = m + 1;
      const lcs = new Uint32Array((n + 1) * width);
      for (let i = n - 1; i >= 0; i--) {
        for (let j = m - 1; j >= 0; j--) {
          lcs[i * width + j] = midA[i] === midB[j] ? lcs[(i + 1) * width + j + 1] + 1 : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
        }
      }
      let i = 0;
      let j = 0;
      while (i < n || j < m) {
        if (i < n && j < m && midA[i] === midB[j]) {
          out.push({ op: 'equal', text: midA[i], oldLine: prefix + i + 1, newLine: prefix + j + 1 });
          i++;
          j++;
        } else if (j >= m || (i < n && lcs[(i + 1) * width + j] >= lcs[i * width + j + 1])) {
          // Removals before additions within a change, as diff -u prints them.
          out.push({ op: 'delete', text: midA[i], oldLine: prefix + i + 1 });
          i++;
        } else {
          out.push({ op: 'insert', text: midB[j], newLine: prefix + j + 1 });
          j++;
        }
      }
    }
  }

  for (let k = 0; k < suffix; k++) {
    const oldIndex = a.length - suffix + k;
    const newIndex = b.length - suffix + k;
    out.push({ op: 'equal', text: a[oldIndex], oldLine: oldIndex + 1, newLine: newIndex + 1 });
  }
  return out;
}

export function hasChanges(lines: readonly DiffLine[]): boolean {
  return lines.some((line) => line.op !== 'equal');
}

/** The changed lines with `context` unchanged lines around them, grouped as `@@ -a,b +c,d @@` hunks. */
export function diffHunks(lines: readonly DiffLine[], context = 3): DiffHunk[] {
  const changed = lines.map((line, index) => (line.op === 'equal' ? -1 : index)).filter((index) => index >= 0);
  if (changed.length === 0) return [];
  const ranges: Array<[number, number]> = [];
  for (const index of changed) {
    const start = Math.max(0, index - context);
    const end = Math.min(lines.length - 1, index + context);
    const last = ranges[ranges.length - 1];
    if (last && start <= last[1] + 1) last[1] = Math.max(last[1], end);
    else ranges.push([start, end]);
  }
  return ranges.map(([start, end]) => {
    const hunk = lines.slice(start, end + 1);
    const firstOld = hunk.find((line) => line.oldLine !== undefined)?.oldLine;
    const firstNew = hunk.find((line) => line.newLine !== undefined)?.newLine;
    const oldLines = hunk.filter((line) => line.op !== 'insert').length;
    const newLines = hunk.filter((line) => line.op !== 'delete').length;
    // diff -u: an empty side starts at the line before the hunk (0 at the top).
    const oldBefore = lines.slice(0, start).filter((line) => line.op !== 'insert').length;
    const newBefore = lines.slice(0, start).filter((line) => line.op !== 'delete').length;
    return {
      oldStart: oldLines === 0 ? oldBefore : (firstOld ?? oldBefore + 1),
      oldLines,
      newStart: newLines === 0 ? newBefore : (firstNew ?? newBefore + 1),
      newLines,
      lines: hunk,
    };
  });
}
