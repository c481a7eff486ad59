/** `virtplane completion bash|zsh`: a completion script made from the command tree itself. */
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { ApiError } from '@virtplane/sdk';

function paths(cmd: CommandUnknownOpts, prefix: string, out: Map<string, string[]>): void {
  const words = [
    ...cmd.commands.map((c) => c.name()),
    ...cmd.options.flatMap((o) => [o.long, o.short].filter((x): x is string => !!x)),
    '--help',
  ];
  out.set(prefix, words);
  for (const sub of cmd.commands) paths(sub, `${prefix} ${sub.name()}`, out);
}

export function completionScript(program: CommandUnknownOpts, shell: string): string {
  if (shell !== 'bash' && shell !== 'zsh') throw new ApiError('USAGE', 'say bash or zsh');
  const tree = new Map<string, string[]>();
  paths(program, '', tree);
  const known = [...tree.keys()].filter(Boolean).join('|');
  const cases = [...tree].map(([p, words]) => `    "${p}") words="${words.join(' ')}" ;;`).join('\n');
  return `${shell === 'zsh' ? 'autoload -U +X bashcompinit && bashcompinit\n' : ''}# virtplane completion (${shell}): eval "$(virtplane completion ${shell})"
_virtplane() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" next words i
  for ((i = 1; i < COMP_CWORD; i++)); do
    next="$path \${COMP_WORDS[i]}"
    case "|${known}|" in *"|$next|"*) path="$next" ;; esac
  done
  case "$path" in
${cases}
    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _virtplane virtplane
`;
}

export function completionCommand(program: CommandUnknownOpts): CommandUnknownOpts {
  return new Command('completion')
    .description('Print a shell completion script: eval "$(virtplane completion bash)" (or zsh) in your shell rc')
    .argument('<shell>', 'bash or zsh')
    .action((shell) => {
      process.stdout.write(completionScript(program, shell));
    });
}
