/**
 * Just enough of Docker's own rules to check the Dockerfiles without a Docker engine: instructions
 * (continuations, comments, global ARGs in FROM), stages (and stages built on stages), COPY, and
 * .dockerignore matching.
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

/** The earlier stage a stage starts from (`FROM <stage name>`), if it does; Docker matches stage names case-insensitively. */
export function parentStage(stages: Stage[], stage: Stage): Stage | undefined {
  return stages.slice(0, stages.indexOf(stage)).find((earlier) => earlier.name?.toLowerCase() === stage.image.toLowerCase());
}

/** The image a stage ends up built on, following `FROM <stage name>` to the image its first ancestor names. */
export function baseImage(stages: Stage[], stage: Stage): string {
  const parent = parentStage(stages, stage);
  return parent ? baseImage(stages, parent) : stage.image;
}

/**
 * The stage's working directory where each instruction runs (WORKDIR, relative ones included). A
 * stage built on an earlier one starts in that one's last working directory, as Docker inherits it.
 */
export function workdirs(stage: Stage, stages: Stage[] = [stage]): string[] {
  let current = startingWorkdir(stages, stage);
  return stage.instructions.map((instruction) => {
    if (instruction.keyword === 'WORKDIR') current = posix.resolve(current, instruction.args);
    return current;
  });
}

function startingWorkdir(stages: Stage[], stage: Stage): string {
  const parent = parentStage(stages, stage);
  return parent ? (workdirs(parent, stages).at(-1) ?? startingWorkdir(stages, parent)) : '/';
}

/**
 * The paths of the build context (as COPY names them) that a stage holds before its instruction at
 * `index` runs: its own COPYs from the context, everything the stage it is built on holds, and
 * everything held by the stages it copies from (`COPY --from=<stage>`). Without `index`, at its end.
 */
export function contextPathsBefore(stages: Stage[], stage: Stage, index = stage.instructions.length): Set<string> {
  const parent = parentStage(stages, stage);
  const paths = new Set(parent ? contextPathsBefore(stages, parent) : []);
  for (const instruction of stage.instructions.slice(0, index)) {
    if (instruction.keyword !== 'COPY' && instruction.keyword !== 'ADD') continue;
    const copy = parseCopy(instruction);
    const source = copy.from === undefined ? undefined : stages.slice(0, stages.indexOf(stage)).find((earlier) => earlier.name?.toLowerCase() === copy.from!.toLowerCase());
    if (copy.from === undefined) for (const path of copy.sources) paths.add(posix.normalize(path).replace(/(.)\/$/, '$1'));
    else if (source) for (const path of contextPathsBefore(stages, source)) paths.add(path);
  }
  return paths;
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
