// `fastchat completion bash|zsh|fish` and `fastchat man`: shell completion and the man page, both
// generated from this program's own command definitions (client/help/).
import { Argument, type Command } from 'commander';

export function register(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script for bash, zsh or fish')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(['bash', 'zsh', 'fish']))
    .addHelpText(
      'after',
      '\nLoad it in the current shell, or save it where your shell loads completions:\n  source <(fastchat completion bash)     ~/.local/share/bash-completion/completions/fastchat\n  source <(fastchat completion zsh)      a file named _fastchat in a folder of $fpath\n  fastchat completion fish | source      ~/.config/fish/completions/fastchat.fish',
    )
    .action(async (shell: 'bash' | 'zsh' | 'fish') => {
      const [{ describeCommand }, { completionScript }] = await Promise.all([import('../help/spec.js'), import('../help/completion.js')]);
      process.stdout.write(completionScript(shell, describeCommand(program)));
    });

  program
    .command('man')
    .description('print the fastchat(1) man page (roff); e.g. fastchat man | man -l -')
    .action(async () => {
      const [{ describeCommand }, { manPage }, { VERSION }] = await Promise.all([import('../help/spec.js'), import('../help/manpage.js'), import('../program.js')]);
      process.stdout.write(manPage(describeCommand(program), VERSION));
    });
}
