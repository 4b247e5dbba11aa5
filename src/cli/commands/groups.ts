import type { Command } from 'commander'
import type { Action } from '../program.js'

/** Consumer-group commands: status, dead letters, reset (filled in with src/consumers). */
export function registerGroupCommands(program: Command, action: Action): void {
  void action
  program.command('groups').description('consumer groups: status, dead letters, reset')
}
