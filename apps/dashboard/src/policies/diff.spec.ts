import { describe, expect, it } from 'vitest';
import { diffHunks, hasChanges, lineDiff, splitLines, type DiffHunk, type DiffLine } from './diff';

/** The hunks as `diff -u` text, to compare hunks with what diff would print. */
function formatUnified(hunks: readonly DiffHunk[]): string {
  return hunks
    .map((hunk) =>
      [
        `@@ -${hunk.oldStart},${hunk.oldLines} +${hunk.newStart},${hunk.newLines} @@`,
        ...hunk.lines.map((line) => `${line.op === 'equal' ? ' ' : line.op === 'delete' ? '-' : '+'}${line.text}`),
      ].join('\n'),
    )
    .join('\n');
}

/** The diff as `diff` markers, compact to read in a test. */
function ops(lines: DiffLine[]): string[] {
  return lines.map((line) => `${line.op === 'equal' ? ' ' : line.op === 'delete' ? '-' : '+'}${line.text}`);
}

/** Applying the diff to the old text must give the new one, and dropping insertions the old. */
function replay(lines: DiffLine[]) {
  return {
    before: lines.filter((line) => line.op !== 'insert').map((line) => line.text),
    after: lines.filter((line) => line.op !== 'delete').map((line) => line.text),
  };
}

describe('splitLines', () => {
  it.each([
    ['', []],
    ['a', ['a']],
    ['a\n', ['a']],
    ['a\nb', ['a', 'b']],
    ['a\r\nb\r\n', ['a', 'b']],
    ['a\n\nb\n', ['a', '', 'b']],
  ])('%j', (text, lines) => {
    expect(splitLines(text)).toEqual(lines);
  });
});

describe('lineDiff', () => {
  it.each([
    { name: 'identical texts', before: 'a\nb\n', after: 'a\nb\n', expected: [' a', ' b'] },
    { name: 'a changed value', before: 'a\nrequests: 100\nc\n', after: 'a\nrequests: 200\nc\n', expected: [' a', '-requests: 100', '+requests: 200', ' c'] },
    { name: 'an added line', before: 'a\nc\n', after: 'a\nb\nc\n', expected: [' a', '+b', ' c'] },
    { name: 'a removed line', before: 'a\nb\nc\n', after: 'a\nc\n', expected: [' a', '-b', ' c'] },
    { name: 'from nothing (a new object)', before: '', after: 'a\nb\n', expected: ['+a', '+b'] },
    { name: 'to nothing', before: 'a\nb\n', after: '', expected: ['-a', '-b'] },
    { name: 'a moved line keeps the longest common part', before: 'x\na\nb\nc\n', after: 'a\nb\nc\nx\n', expected: ['-x', ' a', ' b', ' c', '+x'] },
    { name: 'changes at both ends', before: '1\na\nb\n2\n', after: '0\na\nb\n3\n', expected: ['-1', '+0', ' a', ' b', '-2', '+3'] },
  ])('$name', ({ before, after, expected }) => {
    const lines = lineDiff(before, after);
    expect(ops(lines)).toEqual(expected);
    expect(replay(lines)).toEqual({ before: splitLines(before), after: splitLines(after) });
  });

  it('is minimal: the equal lines are a longest common subsequence', () => {
    const before = ['a', 'b', 'c', 'a', 'b', 'b', 'a'].join('\n');
    const after = ['c', 'b', 'a', 'b', 'a', 'c'].join('\n');
    // LCS of ABCABBA and CBABAC has length 4.
    expect(lineDiff(before, after).filter((line) => line.op === 'equal')).toHaveLength(4);
  });

  it('numbers lines on both sides', () => {
    const lines = lineDiff('a\nb\nc\n', 'a\nB\nc\nd\n');
    expect(lines).toEqual([
      { op: 'equal', text: 'a', oldLine: 1, newLine: 1 },
      { op: 'delete', text: 'b', oldLine: 2 },
      { op: 'insert', text: 'B', newLine: 2 },
      { op: 'equal', text: 'c', oldLine: 3, newLine: 3 },
      { op: 'insert', text: 'd', newLine: 4 },
    ]);
  });

  it('stays correct on texts too large for the table', () => {
    const before = Array.from({ length: 2500 }, (_, i) => `old ${i}`).join('\n');
    const after = Array.from({ length: 2500 }, (_, i) => `new ${i}`).join('\n');
    const lines = lineDiff(`head\n${before}\ntail`, `head\n${after}\ntail`);
    expect(replay(lines)).toEqual({ before: splitLines(`head\n${before}\ntail`), after: splitLines(`head\n${after}\ntail`) });
    expect(lines[0]).toEqual({ op: 'equal', text: 'head', oldLine: 1, newLine: 1 });
    expect(lines[lines.length - 1]).toEqual({ op: 'equal', text: 'tail', oldLine: 2502, newLine: 2502 });
  });
});

describe('diffHunks', () => {
  const before = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join('\n');

  it('has no hunk without a change', () => {
    const lines = lineDiff(before, before);
    expect(hasChanges(lines)).toBe(false);
    expect(diffHunks(lines)).toEqual([]);
  });

  it('keeps three lines of context and numbers the hunk as diff -u', () => {
    const after = before.replace('line 10', 'line ten');
    expect(formatUnified(diffHunks(lineDiff(before, after)))).toBe(
      ['@@ -7,7 +7,7 @@', ' line 7', ' line 8', ' line 9', '-line 10', '+line ten', ' line 11', ' line 12', ' line 13'].join('\n'),
    );
  });

  it('splits distant changes and merges close ones', () => {
    const distant = before.replace('line 2\n', 'line two\n').replace('line 19', 'line nineteen');
    expect(diffHunks(lineDiff(before, distant))).toHaveLength(2);
    const close = before.replace('line 5\n', 'line five\n').replace('line 10', 'line ten');
    expect(diffHunks(lineDiff(before, close))).toHaveLength(1);
  });

  it('numbers a pure insertion at the top and an empty old side', () => {
    expect(formatUnified(diffHunks(lineDiff('', 'a\nb\n')))).toBe('@@ -0,0 +1,2 @@\n+a\n+b');
    expect(formatUnified(diffHunks(lineDiff('a\n', 'x\na\n')))).toBe('@@ -1,1 +1,2 @@\n+x\n a');
  });
});
