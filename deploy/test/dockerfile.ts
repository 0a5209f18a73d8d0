/**
 * Just enough of Docker's own rules to check the Dockerfiles without a Docker engine: instructions
 * (continuations, comments, global ARGs in FROM), stages, COPY, and .dockerignore matching.
 */
import { posix } from 'node:path';

export interface Instruction {
  keyword: string;
  /** The rest of the line, continuations joined. */
  args: string;
}

export interface Stage {
  /** After substituting the global ARGs' defaults. */
  image: string;
  name?: string;
  instructions: Instruction[];
}

export interface Copy {
  from?: string;
  sources: string[];
  destination: string;
}

export function parseDockerfile(text: string): Stage[] {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    const instruction = { keyword: keyword.toUpperCase(), args };
    if (instruction.keyword === 'FROM') {
      const [image, as, name] = args.replace(/--platform=\S+\s+/, '').split(/\s+/);
      const substituted = image.replace(/\$\{?(\w+)\}?/g, (_, variable: string) => globalArgs.get(variable) ?? '');
      stages.push({ image: substituted, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else if (stages.length === 0 && instruction.keyword === 'ARG') {
      const [variable, value = ''] = args.split('=');
      globalArgs.set(variable, value);
    } else if (stages.length > 0) {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages;
}

export function parseCopy(instruction: Instruction): Copy {
  const words = instruction.args.split(/\s+/);
  const from = words.find((word) => word.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((word) => !word.startsWith('--'));
  return { from, sources: paths.slice(0, -1), destination: paths.at(-1)! };
}

/** The stage's working directory where each instruction runs (WORKDIR, relative ones included). */
export function workdirs(stage: Stage): string[] {
  let current = '/';
  return stage.instructions.map((instruction) => {
    if (instruction.keyword === 'WORKDIR') current = posix.resolve(current, instruction.args);
    return current;
  });
}

/** The JSON (exec) form of ENTRYPOINT/CMD as a list of words. */
export function execForm(stage: Stage, keyword: 'ENTRYPOINT' | 'CMD'): string[] {
  const instruction = stage.instructions.filter((i) => i.keyword === keyword).at(-1);
  return instruction ? (JSON.parse(instruction.args) as string[]) : [];
}

/**
 * Whether .dockerignore leaves `path` (relative to the context) out: its patterns are Go
 * filepath.Match globs plus `**`, a later pattern wins over an earlier one, `!` takes a path back,
 * and a pattern that matches a directory matches everything under it.
 */
export function dockerignored(patterns: string[], path: string): boolean {
  const rules = patterns
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const negated = line.startsWith('!');
      const pattern = posix.normalize(line.slice(negated ? 1 : 0)).replace(/^\/+/, '');
      const regex = pattern
        .split('/')
        .map((part) => (part === '**' ? '.*' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
        .join('/')
        .replace(/\.\*\//g, '(.*/)?');
      return { negated, regex: new RegExp(`^${regex}$`) };
    });
  const parts = path.split('/');
  const prefixes = parts.map((_, index) => parts.slice(0, index + 1).join('/'));
  let ignored = false;
  for (const rule of rules) {
    if (prefixes.some((prefix) => rule.regex.test(prefix))) ignored = !rule.negated;
  }
  return ignored;
}
