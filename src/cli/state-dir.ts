/**
 * The default state directory: the one systemd made for the service
 * (StateDirectory=portplane sets $STATE_DIRECTORY=/var/lib/portplane), else
 * ./.portplane beside the project, which is what `npm start` uses.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  // Several StateDirectory= entries arrive colon-separated; portplane's is the first.
  return env.STATE_DIRECTORY?.split(':')[0] || './.portplane';
}
