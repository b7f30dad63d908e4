# Homebrew formula for delego-runner (and delego-relay). For a tap:
#   cp packaging/homebrew/delego-runner.rb "$(brew --repository)/Library/Taps/<you>/homebrew-delego/Formula/"
# On each release, set url and sha256 to the release tarball
# (`make dist`-style: the tree as tagged) and its `shasum -a 256`.
class DelegoRunner < Formula
  desc "Run Delego coding jobs on this machine with Claude Code or Codex"
  homepage "https://github.com/delegoapp/delego-runner"
  license "MIT"
  url "https://github.com/delegoapp/delego-runner/releases/download/v0.9.0/delego-runner-0.9.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  head "https://github.com/delegoapp/delego-runner.git", branch: "main"

  depends_on "pkgconf" => :build
  depends_on "check" => :test
  depends_on "cjson"
  depends_on "curl"
  depends_on "libmicrohttpd"
  depends_on "libuv"
  depends_on "libyaml"
  # SHA-1 and base64 of the runner's WebSocket handshake, the relay's SHA-256
  # and HMAC (the Makefile links it with pkg-config).
  depends_on "nettle"
  depends_on "sqlite"

  def install
    # The Makefile finds every library with pkg-config; Homebrew's
    # PKG_CONFIG_PATH points at the kegs above. DEVELOPER=0: no -Werror, so
    # a newer clang's new warnings do not break the install.
    system "make", "install", "PREFIX=#{prefix}", "SYSCONFDIR=#{etc}", "VERSION=#{version}",
           "CC=#{ENV.cc}", "DEVELOPER=0", "CFLAGS=-O2 -g"
    # The systemd units and sysusers/tmpfiles snippets are of no use on macOS.
    rm_r lib/"systemd" if (lib/"systemd").exist?
    rm_r lib/"sysusers.d" if (lib/"sysusers.d").exist?
    rm_r lib/"tmpfiles.d" if (lib/"tmpfiles.d").exist?
    zsh_completion.install share/"zsh/vendor-completions/_delego-runner"
  end

  def caveats
    <<~EOS
      Pair this Mac once, from the command the dashboard's Runners panel shows:
        printf "%s" drs_pair_... | delego-runner pair --relay-url URL --pairing-token - --background
      --background (or `delego-runner service install`) writes a per-profile
      launchd agent, ~/Library/LaunchAgents/app.delego.runner.<profile>.plist,
      that starts at login and is not restarted after a revoked credential
      (exit 2) or a usage or configuration error (64, 78). Prefer it to
      `brew services`, which runs only the default profile and restarts after
      every non-zero exit. Logs: ~/Library/Logs/delego-runner/<profile>.log
    EOS
  end

  # A running runner (its launchd agent) re-execs the new program in place
  # and keeps its running jobs; without one this does nothing.
  def post_install
    quiet_system bin/"delego-runner", "upgrade"
  end

  service do
    run [opt_bin/"delego-runner", "run"]
    # launchd cannot skip particular exit statuses: restarted after any
    # failure, not after a clean exit. `delego-runner service install`
    # maps 2, 64 and 78 to "not restarted" with a wrapper; see caveats.
    keep_alive successful_exit: false
    log_path var/"log/delego-runner.log"
    error_log_path var/"log/delego-runner.log"
    environment_variables PATH: std_service_path_env
  end

  test do
    assert_match version.to_s, shell_output("#{bin}/delego-runner version")
    ENV["HOME"] = testpath
    ENV.delete "XDG_CONFIG_HOME"
    assert_match "not paired", shell_output("#{bin}/delego-runner run 2>&1", 78)
    assert_match "no paired runner profiles", shell_output("#{bin}/delego-runner status 2>&1").downcase
    assert_match "delego-relay", shell_output("#{bin}/delego-relay --help 2>&1")
  end
end
