/**
 * The policy YAML editor: CodeMirror with YAML highlighting, problems as lint diagnostics at their
 * lines (gutter markers, underlines, F8 to the next one, Ctrl/Cmd-Shift-M for the list), and
 * completion of field names and values from the kind's schema (Ctrl-Space, or while typing).
 * Ctrl/Cmd-Enter asks for a preview. Tab indents; Esc then Tab leaves the editor.
 */
import { autocompletion, insertCompletionText, startCompletion, type Completion, type CompletionContext, type CompletionResult } from '@codemirror/autocomplete';
import { yaml } from '@codemirror/lang-yaml';
import { forceLinting, lintGutter, linter, type Diagnostic } from '@codemirror/lint';
import { Prec, StateEffect } from '@codemirror/state';
import { EditorView, keymap } from '@codemirror/view';
import CodeMirror from '@uiw/react-codemirror';
import { useCallback, useEffect, useMemo, useRef } from 'react';
import type { Problem } from './policy-yaml';
import { completionsAt, cursorContext, type SchemaNode } from './schema-completion';

/** Dispatched when the problems change without an edit (the server answered): the linter runs again. */
const refreshProblems = StateEffect.define<null>();

export interface YamlEditorProps {
  value: string;
  onChange(value: string): void;
  readOnly: boolean;
  /** The kind's whole-object schema, for completion. */
  schema: SchemaNode;
  /** Problems of a text; called by the linter on the editor's current text. */
  problems(text: string): readonly Problem[];
  /** Changes when `problems` would answer differently for the same text. */
  problemsVersion: unknown;
  /** Ctrl/Cmd-Enter. */
  onSubmit?(): void;
  onView?(view: EditorView | undefined): void;
  label: string;
  describedBy?: string;
}

function schemaCompletions(schema: SchemaNode) {
  return (context: CompletionContext): CompletionResult | null => {
    const found = cursorContext(context.state.doc.toString(), context.pos);
    if (!found) return null;
    if (!context.explicit && found.prefix === '' && !(found.mode === 'key' && found.listItem)) return null;
    const options: Completion[] = completionsAt(schema, found).map((completion) => ({
      label: completion.label,
      type: completion.type === 'field' ? 'property' : 'enum',
      detail: completion.detail,
      info: completion.info,
      boost: completion.required ? 1 : 0,
      apply: completion.reopen
        ? (view: EditorView, _completion: Completion, from: number, to: number) => {
            view.dispatch(insertCompletionText(view.state, completion.apply, from, to));
            startCompletion(view);
          }
        : completion.apply,
    }));
    return options.length > 0 ? { from: found.from, options, validFor: /^[\w.\/-]*$/ } : null;
  };
}

export function YamlEditor({ value, onChange, readOnly, schema, problems, problemsVersion, onSubmit, onView, label, describedBy }: YamlEditorProps) {
  const viewRef = useRef<EditorView | undefined>(undefined);
  const problemsRef = useRef(problems);
  problemsRef.current = problems;
  const submitRef = useRef(onSubmit);
  submitRef.current = onSubmit;
  const onViewRef = useRef(onView);
  onViewRef.current = onView;
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  // Stable identities: react-codemirror reconfigures the editor whenever these change.
  const handleChange = useCallback((next: string) => onChangeRef.current(next), []);
  const basicSetup = useMemo(() => ({ autocompletion: false, foldGutter: true, highlightActiveLine: !readOnly }), [readOnly]);

  const extensions = useMemo(
    () => [
      yaml(),
      lintGutter(),
      linter(
        (view): Diagnostic[] => {
          const length = view.state.doc.length;
          return problemsRef.current(view.state.doc.toString()).map((problem) => ({
            from: Math.min(problem.from, length),
            to: Math.min(Math.max(problem.to, problem.from), length),
            severity: problem.severity,
            source: problem.source === 'server' ? 'server' : problem.source === 'syntax' ? 'YAML' : 'schema',
            message: problem.field ? `${problem.field}: ${problem.message}` : problem.message,
          }));
        },
        { delay: 250, needsRefresh: (update) => update.transactions.some((tr) => tr.effects.some((effect) => effect.is(refreshProblems))) },
      ),
      autocompletion({ override: [schemaCompletions(schema)], icons: false }),
      Prec.high(
        keymap.of([
          {
            key: 'Mod-Enter',
            run: () => {
              submitRef.current?.();
              return true;
            },
          },
        ]),
      ),
      EditorView.contentAttributes.of({ 'aria-label': label, ...(describedBy ? { 'aria-describedby': describedBy } : {}) }),
    ],
    [schema, label, describedBy],
  );

  useEffect(() => {
    const view = viewRef.current;
    if (!view) return;
    view.dispatch({ effects: refreshProblems.of(null) });
    forceLinting(view);
  }, [problemsVersion]);

  useEffect(() => () => onViewRef.current?.(undefined), []);

  return (
    <CodeMirror
      value={value}
      onChange={handleChange}
      readOnly={readOnly}
      extensions={extensions}
      basicSetup={basicSetup}
      minHeight="320px"
      maxHeight="70vh"
      onCreateEditor={(view) => {
        viewRef.current = view;
        onViewRef.current?.(view);
      }}
    />
  );
}
