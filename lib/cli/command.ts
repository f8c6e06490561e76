/** What each subcommand file exports; lib/cli/main.ts lists them (commands never import main). */
export interface Command {
  /** One line for the usage text. */
  summary: string;
  usage: string;
  /** Runs with the arguments after the subcommand name; resolves to the exit code. */
  run(argv: string[]): Promise<number>;
}
