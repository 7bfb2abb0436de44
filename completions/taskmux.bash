# bash completion for taskmux and taskmux-run                     -*- shell-script -*-
#
# Completes commands, flags, and task names (read from the taskmux.toml found upward from
# the current directory, or the one named with -c, by the hidden 'taskmux __tasks').
# Load it with:  source <(taskmux completions bash)
# or install it as .../bash-completion/completions/taskmux (and taskmux-run).

# Commands of taskmux (list and ls are aliases of status).
_taskmux_commands='start stop restart kill status list ls health inspect logs logs-clean events add remove init check url send attach run jobs watch mcp daemon config ca dns doctor alias fleet completions help'

# Flags accepted anywhere before '--'.
_taskmux_global_flags='--json -c --config -L --socket -p --project -H --host -h --help -V --version'

# _taskmux_flags COMMAND: the flags of one command (besides the global ones).
_taskmux_flags() {
    case $1 in
        start) echo '--wait --if-stopped -m --monitor -d --daemon' ;;
        health) echo '-v --verbose' ;;
        logs) echo '-f --follow -n --lines -g --grep -C --context --since' ;;
        events) echo '-t --task --since -n --lines -a --all-projects -f --follow' ;;
        add) echo '-f --force --cwd --host --health-check --depends-on' ;;
        init) echo '--defaults' ;;
        send) echo '--no-enter' ;;
        run) _taskmux_run_flags ;;
        jobs) echo '-t --tag --window-id --all -s --session -w --workspace' ;;
        mcp) echo '-s --session' ;;
        daemon) echo '--dry-run -f --force' ;;
        dns) echo '--bind --port --tld --allow-remote --type --server' ;;
        fleet) echo '--timeout' ;;
    esac
}

# The keys of the global config ('taskmux config set KEY VALUE').
_taskmux_config_keys='health_check_interval api_bind api_port api_allowed_origins proxy_enabled proxy_bind proxy_https_port proxy_http_port host_resolver dns_server_port dns_managed_tld proxy_upstream_timeout ssh_command hosts'

# _taskmux_config_words OPERAND...: what comes after 'taskmux config OPERAND...'.
_taskmux_config_words() {
    case $#:$1:$2 in
        0::) echo 'show path set unset' ;;
        1:set: | 1:unset:) echo "$_taskmux_config_keys" ;;
        2:set:proxy_enabled) echo 'true false' ;;
        2:set:host_resolver) echo 'etc_hosts dns_server noop' ;;
    esac
}

# The flags of taskmux-run (and taskmux run).
_taskmux_run_flags() {
    echo '-h --help -V --version --json -c --config -H --host -s --session -w --workspace -L --socket -t --tag --window --cwd -e --env --log-file --keep --rm --no-keep-on-fail --keep-on-fail --wait'
}

# _taskmux_takes_value COMMAND FLAG: true when FLAG takes a value.
_taskmux_takes_value() {
    case $2 in
        -c | --config | -L | --socket | -p | --project | -H | --host) return 0 ;;
    esac
    case $1:$2 in
        logs:-n | logs:--lines | logs:-g | logs:--grep | logs:-C | logs:--context | logs:--since) return 0 ;;
        events:-t | events:--task | events:--since | events:-n | events:--lines) return 0 ;;
        add:--cwd | add:--host | add:--health-check | add:--depends-on) return 0 ;;
        run:-s | run:--session | run:-w | run:--workspace | run:-t | run:--tag) return 0 ;;
        run:--window | run:--cwd | run:-e | run:--env | run:--log-file) return 0 ;;
        jobs:-t | jobs:--tag | jobs:--window-id | jobs:-s | jobs:--session | jobs:-w | jobs:--workspace) return 0 ;;
        mcp:-s | mcp:--session) return 0 ;;
        dns:--bind | dns:--port | dns:--tld | dns:--type | dns:--server) return 0 ;;
        fleet:--timeout) return 0 ;;
    esac
    return 1
}

# The task names of the project's config, one per line (nothing when there is none).
_taskmux_tasks() {
    if [[ -n $_taskmux_config ]]; then
        command taskmux __tasks -c "$_taskmux_config" 2>/dev/null
    else
        command taskmux __tasks 2>/dev/null
    fi
}

# _taskmux_value COMMAND FLAG CUR: completes the value of a flag.
_taskmux_value() {
    case $1:$2 in
        *:-c | *:--config | run:-w | run:--workspace | jobs:-w | jobs:--workspace | run:--log-file)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$3")
            ;;
        add:--cwd | run:--cwd)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -d -- "$3")
            ;;
        add:--depends-on | events:-t | events:--task)
            mapfile -t COMPREPLY < <(compgen -W "$(_taskmux_tasks)" -- "$3")
            ;;
        dns:--type) mapfile -t COMPREPLY < <(compgen -W 'A AAAA MX TXT SOA NS CNAME ANY HTTPS' -- "$3") ;;
        *) COMPREPLY=() ;;
    esac
}

_taskmux() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prog=${COMP_WORDS[0]##*/}
    local cmd='' i w npos=0 after_dd=0 dd_words=0
    local -a operands=()
    local _taskmux_config=''
    COMPREPLY=()
    [[ $prog == taskmux-run ]] && cmd=run

    # Walk the words before the cursor: find the command, the config, the positionals.
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if ((after_dd)); then
            ((dd_words++))
            continue
        fi
        case $w in
            --)
                after_dd=1
                continue
                ;;
            --config=*) _taskmux_config=${w#--config=} ;;
            -c?*) _taskmux_config=${w#-c} ;;
        esac
        if [[ $w == -* ]]; then
            # a long flag, '=' and its value: bash splits FLAG=VALUE at the '='
            if [[ $w == --* && ${COMP_WORDS[i + 1]} == = ]]; then
                [[ $w == --config ]] && _taskmux_config=${COMP_WORDS[i + 2]}
                ((i += 2))
                continue
            fi
            if _taskmux_takes_value "$cmd" "$w" && ((i + 1 < COMP_CWORD)); then
                [[ $w == -c || $w == --config ]] && _taskmux_config=${COMP_WORDS[i + 1]}
                ((i++))
            fi
            continue
        fi
        if [[ -z $cmd ]]; then
            cmd=$w
            case $cmd in list | ls) cmd=status ;; esac
        else
            ((npos++))
            operands+=("$w")
            # taskmux-run: the command starts at the first operand
            [[ $cmd == run ]] && after_dd=1 && dd_words=1
        fi
    done

    # After '--' of run: a command, then files.
    if ((after_dd)) && [[ $cmd == run ]]; then
        if ((dd_words == 0)); then
            mapfile -t COMPREPLY < <(compgen -c -- "$cur" | sort -u)
        else
            compopt -o default 2>/dev/null
        fi
        return 0
    fi
    ((after_dd)) && return 0

    # The value of a flag: 'FLAG VALUE' or 'FLAG=VALUE'.
    local prev=${COMP_WORDS[COMP_CWORD - 1]} flag=''
    if [[ $cur == = && ${COMP_WORDS[COMP_CWORD - 1]} == --* ]]; then
        flag=$prev
        cur=''
    elif [[ $prev == = ]] && ((COMP_CWORD >= 2)); then
        flag=${COMP_WORDS[COMP_CWORD - 2]}
    elif [[ $prev == -* ]] && _taskmux_takes_value "$cmd" "$prev"; then
        flag=$prev
    fi
    if [[ -n $flag ]] && _taskmux_takes_value "$cmd" "$flag"; then
        _taskmux_value "$cmd" "$flag" "$cur"
        return 0
    fi

    if [[ $cur == -* ]]; then
        local flags=$_taskmux_global_flags
        [[ $cmd == run ]] && flags=''
        mapfile -t COMPREPLY < <(compgen -W "$flags $(_taskmux_flags "$cmd")" -- "$cur")
        return 0
    fi

    case $cmd in
        '') mapfile -t COMPREPLY < <(compgen -W "$_taskmux_commands" -- "$cur") ;;
        start | stop | restart)
            mapfile -t COMPREPLY < <(compgen -W "$(_taskmux_tasks)" -- "$cur") ;;
        kill | inspect | logs | logs-clean | send | attach | remove | url)
            ((npos == 0)) && mapfile -t COMPREPLY < <(compgen -W "$(_taskmux_tasks)" -- "$cur") ;;
        jobs) ((npos == 0)) && mapfile -t COMPREPLY < <(compgen -W 'list ls kill wait' -- "$cur") ;;
        daemon) ((npos == 0)) && mapfile -t COMPREPLY < <(compgen -W 'start stop restart status list register unregister install uninstall' -- "$cur") ;;
        dns) ((npos == 0)) && mapfile -t COMPREPLY < <(compgen -W 'serve install uninstall status flush query' -- "$cur") ;;
        config) mapfile -t COMPREPLY < <(compgen -W "$(_taskmux_config_words "${operands[@]}")" -- "$cur") ;;
        ca) ((npos == 0)) && mapfile -t COMPREPLY < <(compgen -W 'install uninstall mint path env' -- "$cur") ;;
        completions) ((npos == 0)) && mapfile -t COMPREPLY < <(compgen -W 'bash zsh fish' -- "$cur") ;;
        help) ((npos == 0)) && mapfile -t COMPREPLY < <(compgen -W "$_taskmux_commands" -- "$cur") ;;
        run) mapfile -t COMPREPLY < <(compgen -W '--' -- "$cur") ;;
    esac
    return 0
}

complete -F _taskmux taskmux taskmux-run
