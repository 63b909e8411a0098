/**
 * Shell completion scripts, generated from the same commander declarations as --help: a flag,
 * command or choice added there completes in bash, zsh and fish with nothing else to edit.
 */

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

export interface OptionShape {
  /** Long flags first, e.g. ["--plugins-dir"], ["--json"], ["-V", "--version"]. */
  flags: string[];
  /** Whether the flag takes a value (the next word), and which ones when it is a fixed set. */
  takesValue: boolean;
  choices?: readonly string[];
  /** Whether the value names a file or directory (completed as paths). */
  path: boolean;
  description: string;
}

export interface CommandShape {
  name: string;
  description: string;
  options: OptionShape[];
  /** Whether the command's arguments are paths (plugin dirs, .so files). */
  pathArguments: boolean;
  /** The values its argument takes, when they are a fixed set (completion's shells). */
  argumentChoices: readonly string[];
  commands: CommandShape[];
}

/** Words that are safe inside single quotes in every shell: what completion descriptions need. */
function quoted(text: string): string {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

const FN = '_d7y_build';

function bash(root: CommandShape): string {
  const cases = [root, ...root.commands].map((cmd) => {
    const words = [...cmd.options.flatMap((o) => o.flags), ...cmd.argumentChoices, ...(cmd === root ? root.commands.map((c) => c.name) : [])];
    const valued = cmd.options.filter((o) => o.takesValue);
    const valueCases = valued
      .map((o) => {
        const reply = o.choices
          ? `COMPREPLY=($(compgen -W ${quoted(o.choices.join(' '))} -- "$cur"))`
          : o.path
            ? 'COMPREPLY=($(compgen -f -- "$cur"))'
            : 'COMPREPLY=()';
        return `        ${o.flags.join('|')}) ${reply}; return ;;`;
      })
      .join('\n');
    const rest = cmd.pathArguments
      ? `COMPREPLY=($(compgen -W ${quoted(words.join(' '))} -- "$cur") $(compgen -f -- "$cur"))`
      : `COMPREPLY=($(compgen -W ${quoted(words.join(' '))} -- "$cur"))`;
    return `    ${cmd === root ? '""' : cmd.name})
      case "$prev" in
${valueCases}
      esac
      ${rest} ;;`;
  });
  const names = root.commands.map((c) => c.name).join('|');
  return `# bash completion for ${root.name}: source it, or put it in ~/.local/share/bash-completion/completions/${root.name}
${FN}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} cmd="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in ${names}) cmd=\${COMP_WORDS[i]}; break ;; esac
  done
  case "$cmd" in
${cases.join('\n')}
  esac
}
complete -o filenames -F ${FN} ${root.name}
`;
}

function zsh(root: CommandShape): string {
  const spec = (o: OptionShape): string => {
    const names = o.flags.length > 1 ? `(${o.flags.join(' ')})'{${o.flags.join(',')}}'` : o.flags[0]!;
    const desc = o.description.replace(/[[\]:'\\]/g, ' ');
    const action = !o.takesValue ? '' : o.choices ? `:value:(${o.choices.join(' ')})` : o.path ? ':path:_files' : ':value: ';
    return `'${names}[${desc}]${action}'`;
  };
  const fnOf = (cmd: CommandShape) => `${FN}_${cmd.name.replace(/-/g, '_')}`;
  const sub = root.commands.map(
    (cmd) => `${fnOf(cmd)}() {
  _arguments -s \\
    ${[...cmd.options.map(spec), cmd.pathArguments ? "'*:file:_files'" : undefined, cmd.argumentChoices.length > 0 ? `'1:value:(${cmd.argumentChoices.join(' ')})'` : undefined].filter((s) => s !== undefined).join(' \\\n    ')}
}`,
  );
  const described = root.commands.map((c) => `'${c.name}:${c.description.replace(/[:'\\]/g, ' ')}'`).join(' ');
  return `#compdef ${root.name}
# zsh completion for ${root.name}: put it on $fpath as _${root.name}, or source it after compinit
${sub.join('\n\n')}

${FN}() {
  local -a commands
  commands=(${described})
  if (( CURRENT == 2 )) && [[ $words[2] != -* ]]; then
    _describe -t commands command commands
    _files
    return
  fi
  local cmd=$words[2]
  if (( \${+functions[${FN}_\${cmd//-/_}]} )); then
    shift words; (( CURRENT-- ))
    ${FN}_\${cmd//-/_}
    return
  fi
  _arguments -s \\
    ${[...root.options.map(spec), "'*:plugin directory:_files -/'"].join(' \\\n    ')}
}

compdef ${FN} ${root.name}
`;
}

function fish(root: CommandShape): string {
  const lines = [`# fish completion for ${root.name}: put it in ~/.config/fish/completions/${root.name}.fish`, `complete -c ${root.name} -e`];
  const names = root.commands.map((c) => c.name).join(' ');
  for (const cmd of root.commands) {
    lines.push(`complete -c ${root.name} -n '__fish_use_subcommand' -f -a ${cmd.name} -d ${quoted(cmd.description)}`);
  }
  for (const cmd of root.commands.filter((c) => c.argumentChoices.length > 0)) {
    lines.push(`complete -c ${root.name} -n '__fish_seen_subcommand_from ${cmd.name}' -f -a ${quoted(cmd.argumentChoices.join(' '))}`);
  }
  for (const cmd of [root, ...root.commands]) {
    const when = cmd === root ? `not __fish_seen_subcommand_from ${names}` : `__fish_seen_subcommand_from ${cmd.name}`;
    for (const o of cmd.options) {
      const flags = o.flags.map((f) => (f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`)).join(' ');
      const value = !o.takesValue ? '' : o.choices ? ` -x -a ${quoted(o.choices.join(' '))}` : o.path ? ' -r -F' : ' -x';
      lines.push(`complete -c ${root.name} -n ${quoted(when)} ${flags}${value} -d ${quoted(o.description)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export function completionScript(shell: Shell, root: CommandShape): string {
  return { bash, zsh, fish }[shell](root);
}
