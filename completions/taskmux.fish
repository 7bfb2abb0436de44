# fish completion for taskmux and taskmux-run.
#
# Completes commands, flags, and task names (read from the taskmux.toml found upward from
# the current directory, or the one named with -c, by the hidden 'taskmux __tasks').
# Install it as taskmux.fish in a directory of $fish_complete_path, or load it with:
#   taskmux completions fish | source

# Prints the command of the line being completed (nothing before one), the config given
# with -c, and the number of its operands: "COMMAND\nCONFIG\nOPERANDS".
function __taskmux_parse
    set -l _tokens (commandline -opc)
    set -l _cmd
    set -l _config
    set -l _npos 0
    # skip: 1 = the next word is a flag's value, 2 = it is the config
    set -l _skip 0
    for w in $_tokens[2..-1]
        if test $_skip -eq 2
            set _config $w
            set _skip 0
            continue
        else if test $_skip -eq 1
            set _skip 0
            continue
        end
        switch $w
            case --
                break
            case '--config=*'
                set _config (string replace -- --config= '' $w)
            case -c --config
                set _skip 2
            case '-c?*'
                set _config (string sub -s 3 -- $w)
            case '-*'
                if contains -- $w -L --socket -p --project -H --host
                    set _skip 1
                else if test -n "$_cmd"; and contains -- "$_cmd:$w" logs:-n logs:--lines logs:-g logs:--grep logs:-C logs:--context logs:--since events:-t events:--task events:--since events:-n events:--lines add:--cwd add:--host add:--health-check add:--depends-on jobs:-t jobs:--tag jobs:--window-id jobs:-s jobs:--session jobs:-w jobs:--workspace mcp:-s mcp:--session fleet:--timeout run:-s run:--session run:-w run:--workspace run:-t run:--tag run:--window run:--cwd run:-e run:--env run:--log-file
                    set _skip 1
                end
            case '*'
                if test -z "$_cmd"
                    set _cmd $w
                else
                    set _npos (math $_npos + 1)
                end
        end
    end
    printf '%s\n' "$_cmd" "$_config" $_npos
end

function __taskmux_needs_command
    set -l _p (__taskmux_parse)
    test -z "$_p[1]"
end

# __taskmux_command_is CMD...: the line's command is one of these.
function __taskmux_command_is
    set -l _p (__taskmux_parse)
    test -n "$_p[1]"; and contains -- $_p[1] $argv
end

# __taskmux_first_operand CMD...: the command is one of these and has no operand yet.
function __taskmux_first_operand
    set -l _p (__taskmux_parse)
    test -n "$_p[1]"; and contains -- $_p[1] $argv; and test "$_p[3]" -eq 0
end

# The task names of the project's config (nothing when there is none).
function __taskmux_tasks
    set -l _p (__taskmux_parse)
    if test -n "$_p[2]"
        command taskmux __tasks -c $_p[2] 2>/dev/null
    else
        command taskmux __tasks 2>/dev/null
    end
end

# __taskmux_config_at N [FIRST [SECOND]]: the line is 'taskmux config' with N operands, the
# first of them FIRST and the second SECOND when given.
function __taskmux_config_at
    set -l _p (__taskmux_parse)
    test "$_p[1]" = config; and test "$_p[3]" -eq $argv[1]; or return 1
    set -l _ops
    set -l _seen 0
    set -l _skip 0
    for w in (commandline -opc)[2..-1]
        if test $_skip -eq 1
            set _skip 0
        else if contains -- $w -c --config -L --socket -p --project -H --host
            set _skip 1
        else if string match -q -- '-*' $w
            continue
        else if test $_seen -eq 1
            set -a _ops $w
        else if test $w = config
            set _seen 1
        end
    end
    set -l _j 0
    for want in $argv[2..-1]
        set _j (math $_j + 1)
        test "$_ops[$_j]" = $want; or return 1
    end
end

complete -c taskmux -f

# Global flags, accepted anywhere before '--'.
complete -c taskmux -l json -d 'machine-readable output on stdout'
complete -c taskmux -s c -l config -r -F -d 'taskmux.toml to use'
complete -c taskmux -s L -l socket -x -d 'tmux socket name, as tmux -L'
complete -c taskmux -s p -l project -x -d 'a registered project, by name'
complete -c taskmux -s H -l host -x -d 'carry the command out on that machine, over ssh'
complete -c taskmux -s h -l help -d 'help'
complete -c taskmux -s V -l version -d 'the version'

# Commands (list and ls are aliases of status).
complete -c taskmux -n __taskmux_needs_command -a start -d 'start auto_start tasks (or the named ones)'
complete -c taskmux -n __taskmux_needs_command -a stop -d 'stop tasks, leaving no process'
complete -c taskmux -n __taskmux_needs_command -a restart -d 'stop then start, in the same window'
complete -c taskmux -n __taskmux_needs_command -a kill -d 'SIGKILL a task and destroy its window'
complete -c taskmux -n __taskmux_needs_command -a status -d "every task's state"
complete -c taskmux -n __taskmux_needs_command -a list -d "every task's state (alias of status)"
complete -c taskmux -n __taskmux_needs_command -a ls -d "every task's state (alias of status)"
complete -c taskmux -n __taskmux_needs_command -a health -d 'probe every task now'
complete -c taskmux -n __taskmux_needs_command -a inspect -d 'full state of one task'
complete -c taskmux -n __taskmux_needs_command -a logs -d 'task output from the log files'
complete -c taskmux -n __taskmux_needs_command -a logs-clean -d 'delete log files'
complete -c taskmux -n __taskmux_needs_command -a events -d 'lifecycle events'
complete -c taskmux -n __taskmux_needs_command -a add -d 'add a task to taskmux.toml'
complete -c taskmux -n __taskmux_needs_command -a remove -d 'remove a task from taskmux.toml'
complete -c taskmux -n __taskmux_needs_command -a init -d 'create taskmux.toml and agent context'
complete -c taskmux -n __taskmux_needs_command -a check -d 'validate the config and lint the environment'
complete -c taskmux -n __taskmux_needs_command -a url -d "the task's https URL"
complete -c taskmux -n __taskmux_needs_command -a send -d "type text into a task's pane"
complete -c taskmux -n __taskmux_needs_command -a attach -d "attach to the session or a task's window"
complete -c taskmux -n __taskmux_needs_command -a run -d 'run a fire-and-forget job window'
complete -c taskmux -n __taskmux_needs_command -a jobs -d 'list and control job windows'
complete -c taskmux -n __taskmux_needs_command -a watch -d 'reload on config change'
complete -c taskmux -n __taskmux_needs_command -a mcp -d 'MCP server on stdio, for coding agents'
complete -c taskmux -n __taskmux_needs_command -a daemon -d 'the per-machine supervisor'
complete -c taskmux -n __taskmux_needs_command -a dns -d 'name resolution: DNS server, resolver set-up, query'
complete -c taskmux -n __taskmux_needs_command -a config -d 'show or edit the global config'
complete -c taskmux -n __taskmux_needs_command -a ca -d 'the local CA: trust it, mint certificates'
complete -c taskmux -n __taskmux_needs_command -a doctor -d 'check every layer and say what to fix'
complete -c taskmux -n __taskmux_needs_command -a alias -d 'a URL for a server taskmux does not run'
complete -c taskmux -n __taskmux_needs_command -a fleet -d 'this machine and every host of [hosts]'
complete -c taskmux -n __taskmux_needs_command -a completions -d 'print a shell completion script'
complete -c taskmux -n __taskmux_needs_command -a help -d "the commands, or one command's usage"

# Task names.
complete -c taskmux -n '__taskmux_command_is start stop restart' -a '(__taskmux_tasks)'
complete -c taskmux -n '__taskmux_first_operand kill inspect logs logs-clean send attach remove url' -a '(__taskmux_tasks)'

# start
complete -c taskmux -n '__taskmux_command_is start' -l wait -d 'return when every started task is healthy'
complete -c taskmux -n '__taskmux_command_is start' -l if-stopped -d 'accepted: start is idempotent'
complete -c taskmux -n '__taskmux_command_is start' -s m -l monitor -d 'supervise in the foreground until Ctrl-C'
complete -c taskmux -n '__taskmux_command_is start' -s d -l daemon -d 'also start the daemon unless it runs'

# health
complete -c taskmux -n '__taskmux_command_is health' -s v -l verbose -d "show each probe's method and reason"

# logs
complete -c taskmux -n '__taskmux_command_is logs' -s f -l follow -d 'follow new lines'
complete -c taskmux -n '__taskmux_command_is logs' -s n -l lines -x -d 'the last N lines'
complete -c taskmux -n '__taskmux_command_is logs' -s g -l grep -x -d 'lines matching a regex'
complete -c taskmux -n '__taskmux_command_is logs' -s C -l context -x -d 'N lines of context around matches'
complete -c taskmux -n '__taskmux_command_is logs' -l since -x -d 'since 30s, 5m, 1h30m, 2d or an ISO time'

# events
complete -c taskmux -n '__taskmux_command_is events' -s t -l task -x -a '(__taskmux_tasks)' -d "only this task's events"
complete -c taskmux -n '__taskmux_command_is events' -l since -x -d 'since 30s, 5m, 1h30m, 2d or an ISO time'
complete -c taskmux -n '__taskmux_command_is events' -s n -l lines -x -d 'the last N events'
complete -c taskmux -n '__taskmux_command_is events' -s a -l all-projects -d "every project's events"
complete -c taskmux -n '__taskmux_command_is events' -s f -l follow -d 'then each new event as it is recorded'

# add
complete -c taskmux -n '__taskmux_command_is add' -l cwd -x -a '(__fish_complete_directories)' -d "the task's working directory"
complete -c taskmux -n '__taskmux_command_is add' -l host -x -d 'serve at https://HOST.PROJECT.localhost'
complete -c taskmux -n '__taskmux_command_is add' -l health-check -x -d 'a shell command that exits 0 when healthy'
complete -c taskmux -n '__taskmux_command_is add' -l depends-on -x -a '(__taskmux_tasks)' -d 'a task that must be healthy first'
complete -c taskmux -n '__taskmux_command_is add' -s f -l force -d 'replace a task of that name'

# init
complete -c taskmux -n '__taskmux_command_is init' -l defaults -d 'never ask: take the defaults'

# send
complete -c taskmux -n '__taskmux_command_is send' -l no-enter -d 'do not press Enter after the text'

# jobs
complete -c taskmux -n '__taskmux_first_operand jobs' -a 'list ls kill wait'
complete -c taskmux -n '__taskmux_first_operand alias' -a 'add remove list'
complete -c taskmux -n '__taskmux_command_is jobs' -s t -l tag -x -d 'only jobs of this tag'
complete -c taskmux -n '__taskmux_command_is jobs' -l window-id -x -d 'with kill: this job window'
complete -c taskmux -n '__taskmux_command_is jobs' -l all -d 'with kill: every job window'
complete -c taskmux -n '__taskmux_command_is jobs' -s s -l session -x -d 'the jobs of this session'
complete -c taskmux -n '__taskmux_command_is jobs' -s w -l workspace -r -F -d "the jobs of a tmuxp workspace's session"

# mcp
complete -c taskmux -n '__taskmux_command_is mcp' -s s -l session -x -d 'serve this registered project'

# daemon
complete -c taskmux -n '__taskmux_first_operand daemon' -a 'start stop restart status list register unregister install uninstall'
complete -c taskmux -n '__taskmux_command_is daemon' -l dry-run -d 'with install: print the unit, change nothing'
complete -c taskmux -n '__taskmux_command_is daemon' -s f -l force -d 'with register: take the name from another config'

# dns
complete -c taskmux -n '__taskmux_first_operand dns' -a 'serve install uninstall status flush query'
complete -c taskmux -n '__taskmux_command_is dns' -l bind -x -d 'with serve: the address to answer on'
complete -c taskmux -n '__taskmux_command_is dns' -l port -x -d 'with serve: the port, UDP and TCP'
complete -c taskmux -n '__taskmux_command_is dns' -l tld -x -d 'with serve: the domain answered'
complete -c taskmux -n '__taskmux_command_is dns' -l allow-remote -d 'with serve: allow a non-loopback address'
complete -c taskmux -n '__taskmux_command_is dns' -l type -x -a 'A AAAA MX TXT SOA NS CNAME ANY HTTPS' -d 'with query: the record type'
complete -c taskmux -n '__taskmux_command_is dns' -l server -x -d 'with query: the server to ask, ADDR:PORT'

# config
complete -c taskmux -n '__taskmux_config_at 0' -a 'show path set unset'
complete -c taskmux -n '__taskmux_config_at 1 set; or __taskmux_config_at 1 unset' -a 'health_check_interval api_bind api_port api_allowed_origins proxy_enabled proxy_bind proxy_https_port proxy_http_port host_resolver dns_server_port dns_managed_tld proxy_upstream_timeout ssh_command hosts'
complete -c taskmux -n '__taskmux_config_at 2 set proxy_enabled' -a 'true false'
complete -c taskmux -n '__taskmux_config_at 2 set host_resolver' -a 'etc_hosts dns_server noop'

# fleet
complete -c taskmux -n '__taskmux_command_is fleet' -l timeout -x -d 'how long each host has to answer'

# ca
complete -c taskmux -n '__taskmux_first_operand ca' -a 'install uninstall mint path env'

# completions, help
complete -c taskmux -n '__taskmux_first_operand completions' -a 'bash zsh fish'
complete -c taskmux -n '__taskmux_first_operand help' -a 'start stop restart kill status list ls health inspect logs logs-clean events add remove init check url send attach run jobs watch mcp daemon config ca dns doctor alias fleet completions help'

# run: the flags of taskmux-run (besides the global ones), then the command after '--'.
complete -c taskmux -n '__taskmux_command_is run' -s s -l session -x -d 'run in this tmux session'
complete -c taskmux -n '__taskmux_command_is run' -s w -l workspace -r -F -d 'run in the session of a tmuxp workspace'
complete -c taskmux -n '__taskmux_command_is run' -s t -l tag -x -d "window tag (default: the command's basename)"
complete -c taskmux -n '__taskmux_command_is run' -l window -x -d 'run in a new pane of this existing window'
complete -c taskmux -n '__taskmux_command_is run' -l cwd -x -a '(__fish_complete_directories)' -d 'working directory'
complete -c taskmux -n '__taskmux_command_is run' -s e -l env -x -d 'add K=V to the environment'
complete -c taskmux -n '__taskmux_command_is run' -l log-file -r -F -d 'capture the output, timestamped'
complete -c taskmux -n '__taskmux_command_is run' -l keep -d 'keep the window after success too'
complete -c taskmux -n '__taskmux_command_is run' -l rm -d 'remove the window after failure too'
complete -c taskmux -n '__taskmux_command_is run' -l no-keep-on-fail -d 'same as --rm'
complete -c taskmux -n '__taskmux_command_is run' -l keep-on-fail -d 'keep the window after failure (the default)'
complete -c taskmux -n '__taskmux_command_is run' -l wait -d "wait for the end, exit with the job's code"

# taskmux-run: its flags; after them, files.
complete -c taskmux-run -s h -l help -d 'help'
complete -c taskmux-run -s V -l version -d 'the version'
complete -c taskmux-run -l json -d 'errors as JSON'
complete -c taskmux-run -s c -l config -r -F -d 'the session of this taskmux.toml'
complete -c taskmux-run -s H -l host -x -d 'run it on that machine, over ssh'
complete -c taskmux-run -s s -l session -x -d 'run in this tmux session'
complete -c taskmux-run -s w -l workspace -r -F -d 'run in the session of a tmuxp workspace'
complete -c taskmux-run -s L -l socket -x -d 'tmux socket name, as tmux -L'
complete -c taskmux-run -s t -l tag -x -d "window tag (default: the command's basename)"
complete -c taskmux-run -l window -x -d 'run in a new pane of this existing window'
complete -c taskmux-run -l cwd -x -a '(__fish_complete_directories)' -d 'working directory'
complete -c taskmux-run -s e -l env -x -d 'add K=V to the environment'
complete -c taskmux-run -l log-file -r -F -d 'capture the output, timestamped'
complete -c taskmux-run -l keep -d 'keep the window after success too'
complete -c taskmux-run -l rm -d 'remove the window after failure too'
complete -c taskmux-run -l no-keep-on-fail -d 'same as --rm'
complete -c taskmux-run -l keep-on-fail -d 'keep the window after failure (the default)'
complete -c taskmux-run -l wait -d "wait for the end, exit with the job's code"
