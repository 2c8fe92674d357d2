// `mantis-start --print-service`: a systemd unit that runs this very install as the current user.
// Paths are absolute (a system unit's %h is root's home, whatever User= says).

export interface ServiceUnitOptions {
  /** The service user and its home; the user dir lives under the home, never in the package (an update replaces that). */
  user: string;
  home: string;
  userDir: string;
  /** This Node and this mantis-start.js. */
  node: string;
  script: string;
}

/** systemd quotes: a path with a space stays one argument. */
const q = (s: string): string => (/[\s"\\]/.test(s) ? `"${s.replace(/(["\\])/g, '\\$1')}"` : s);

export function serviceUnit(o: ServiceUnitOptions): string {
  return `# Mantis as a service. Install: mantis-start --print-service | sudo tee /etc/systemd/system/mantis.service
#   sudo systemctl daemon-reload && sudo systemctl enable --now mantis
# Log: journalctl -u mantis -f     Settings: sudo systemctl edit mantis  ([Service] Environment=MANTIS_...=...)
# See the README, "Run it on a Pi".
[Unit]
Description=Mantis home motion alarm (Node-RED)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=${o.user}
WorkingDirectory=${q(o.home)}
Environment=MANTIS_USER_DIR=${q(o.userDir)}
ExecStart=${q(o.node)} --max-semi-space-size=2 ${q(o.script)}
# Cameras: /dev/video* and the Pi's camera stack belong to group video.
SupplementaryGroups=video
Restart=on-failure
RestartSec=5
# mantis-start stops its flow (clips in progress, the chat stores) on SIGTERM.
TimeoutStopSec=30
StandardOutput=journal
StandardError=journal
SyslogIdentifier=mantis
NoNewPrivileges=yes
ProtectSystem=full

[Install]
WantedBy=multi-user.target
`;
}
