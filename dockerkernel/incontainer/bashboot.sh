# Bash cell boot: started by `runner.py --warm bash bashboot.sh` while the container waits in
# the pool, then runs one cell in this very shell, so what the cell leaves behind can be saved.
#
# State (header "state": true): before the cell, the previous cells' shell is restored from
# /workspace/.dockerkernel/bash-state.{0,1}.sh; after it (also after `exit N`, `set -e`), this
# shell is written there with bash's own means: `declare -p` (variables, arrays, attributes,
# exports), `declare -f` (functions), `alias -p`, `shopt -p`, `set +o`, the working directory,
# and `unset` lines for variables of a fresh shell the cell removed. Everything of the boot is
# named __dk_* and is never saved.
#
# No process is started for the state (a fork costs milliseconds, tens of them on a busy host):
# files are read with `read -N` (bounded), and instead of a rename two slots alternate, each
# ending with a sequence-numbered marker; the restore takes the complete slot with the highest
# number. A cell killed by a limit (SIGKILL) never reaches the save, or leaves a slot without
# its marker: either way the previous state stays the one restored.
#
# Protocol: dockerkernel/protocol.py (header line, then the source, on stdin).

__dk_dir=/workspace/.dockerkernel
__dk_slot=(0 0)  # sequence number of each complete slot (0: none)
__dk_cell=/tmp/dk/cell.sh
__dk_max_state=$((16 << 20))  # a state file larger than this is not read (bytes)
# never carried: set by bash itself, read-only, or belonging to this container. An extglob
# pattern for `compgen -X`, which filters the names in C (a bash loop over them cost 0.7 ms)
__dk_skip='@(BASH|BASH_*|BASHOPTS|BASHPID|COLUMNS|COMP_*|DIRSTACK|EPOCHREALTIME|EPOCHSECONDS|EUID|'\
'FUNCNAME|GROUPS|HISTCMD|HOSTNAME|HOSTTYPE|LINENO|LINES|MACHTYPE|OPTERR|OPTIND|OSTYPE|PIPESTATUS|'\
'PPID|PWD|RANDOM|SECONDS|SHELLOPTS|SHLVL|SRANDOM|UID|_|DK_*|__dk_*)'
[[ -d /tmp/dk ]] || mkdir -p /tmp/dk
# aliases are expanded, as in the interactive shell of bash_kernel (a restored `shopt -u` wins)
shopt -s expand_aliases
# what a fresh shell has: a name the cell unsets is remembered as unset; options are saved
# only when the cell changed them (84 lines the restore would otherwise run every cell)
builtin shopt -s extglob
builtin compgen -v -X "$__dk_skip" >| /tmp/dk/.dk-fresh
builtin shopt -u extglob
builtin mapfile -t __dk_fresh < /tmp/dk/.dk-fresh
builtin shopt -p >| /tmp/dk/.dk-shopt && IFS= builtin read -r -d '' __dk_fresh_shopt < /tmp/dk/.dk-shopt
builtin set +o >| /tmp/dk/.dk-set && IFS= builtin read -r -d '' __dk_fresh_set < /tmp/dk/.dk-set

__dk_done_fd=${DK_DONE_FD:--1}
unset DK_DONE_FD

# -- the boot's functions: defined (parsed) in the pool, before the cell comes ---------------
__dk_read_source() {
    # the rest of stdin is the cell (no NUL: the kernel refuses those); bytes, not characters
    local LC_ALL=C __dk_size=0 __dk_src=
    [[ $__dk_header =~ \"size\":([0-9]+) ]] && __dk_size=${BASH_REMATCH[1]}
    if ((__dk_size > 65536)); then
        command cat >| "$__dk_cell"  # a large cell: one process beats a read(2) per byte
    else
        IFS= builtin read -r -d '' -N "$__dk_size" __dk_src
        builtin printf '%s' "$__dk_src" >| "$__dk_cell"
    fi
}

__dk_env() {
    # the header's environment (%env, DockerKernel.env): applied after the restore, so it wins
    [[ $__dk_header == *'"env":{}'* ]] && return
    local line
    while IFS= builtin read -r -d '' line; do
        [[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] && builtin export "${BASH_REMATCH[1]}=${BASH_REMATCH[2]}"
    done < <(command jq -j '.env | to_entries[] | "\(.key)=\(.value)\u0000"' <<<"$__dk_header" 2>/dev/null)
}

__dk_load() {
    # sets __dk_text to the newest complete slot (and __dk_slot to both slots' numbers). The
    # workspace belongs to the cells: only a regular file (no link, FIFO, device), bounded
    local LC_ALL=C __dk_i __dk_file __dk_body __dk_best=-1
    __dk_text=
    for __dk_i in 0 1; do
        __dk_file=$__dk_dir/bash-state.$__dk_i.sh
        [[ -f $__dk_file && ! -L $__dk_file ]] || continue
        IFS= builtin read -r -d '' -N "$__dk_max_state" __dk_body < "$__dk_file"
        ((${#__dk_body} < __dk_max_state)) || continue
        [[ ${__dk_body: -80} =~ $'\n'__dk_saved_by=([0-9]+)$'\n'__dk_complete=([0-9]+)$'\n'$ ]] || continue
        [[ $__dk_discard == *,${BASH_REMATCH[1]},* ]] && continue  # saved by a cell a limit then ended
        __dk_slot[__dk_i]=${BASH_REMATCH[2]}
        if ((__dk_slot[__dk_i] > __dk_best)); then
            __dk_best=${__dk_slot[__dk_i]}
            __dk_text=$__dk_body
        fi
    done
    [[ -n $__dk_text ]]
}

__dk_save() {
    # writes this shell's state for the next cell; every local is __dk_*, so none shadows the cell's
    { __dk_flags=$-; builtin set +xveuo noclobber; } 2>/dev/null
    ((__dk_keep)) && ((!__dk_saved)) || return 0
    __dk_saved=1
    local __dk_tmp __dk_name __dk_shopt __dk_setopts __dk_all
    local -a __dk_vars __dk_userfns __dk_exported
    # lists through /tmp files (no process): the cell may have filled /tmp, and a partial list
    # would save a shell without its variables (and `unset PATH` for the ones missing), so
    # each list ends with a marker line, whose write a full disk refuses (compgen itself fails
    # when it finds nothing)
    if ! { builtin set +o >| /tmp/dk/.dk-set && builtin shopt -p >| /tmp/dk/.dk-shopt && builtin shopt -s extglob &&
        { builtin compgen -v -X "$__dk_skip"; builtin printf '__dk_end\n'; } >| /tmp/dk/.dk-names &&
        { builtin compgen -A function -X '__dk_*'; builtin printf '__dk_end\n'; } >| /tmp/dk/.dk-functions &&
        builtin declare -Fx >| /tmp/dk/.dk-exported; } 2>/dev/null; then
        builtin printf 'dockerkernel: the shell could not be saved for the next cell (is /tmp full?); the previous one is kept\n' >&2
        return 0
    fi
    builtin mapfile -t __dk_vars < /tmp/dk/.dk-names
    builtin mapfile -t __dk_userfns < /tmp/dk/.dk-functions
    [[ ${__dk_vars[-1]} == __dk_end && ${__dk_userfns[-1]} == __dk_end ]] || return 0  # cut short: keep the previous state
    builtin unset -v '__dk_vars[-1]' '__dk_userfns[-1]'
    builtin mapfile -t __dk_exported < /tmp/dk/.dk-exported
    __dk_exported=("${__dk_exported[@]#declare -fx }")
    IFS= builtin read -r -d '' __dk_shopt < /tmp/dk/.dk-shopt
    IFS= builtin read -r -d '' __dk_setopts < /tmp/dk/.dk-set
    __dk_all=" ${__dk_vars[*]} "
    [[ -d $__dk_dir && ! -L $__dk_dir ]] || command mkdir -p -- "$__dk_dir" 2>/dev/null || return 0
    # the older slot is overwritten; the newer one stays intact until the marker is written
    local __dk_into=0 __dk_seq=$(( (__dk_slot[0] > __dk_slot[1] ? __dk_slot[0] : __dk_slot[1]) + 1 ))
    ((__dk_slot[0] > __dk_slot[1])) && __dk_into=1
    __dk_tmp=$__dk_dir/bash-state.$__dk_into.sh
    # a link or FIFO a cell put there is removed, never written through (one process, rarely)
    [[ -L $__dk_tmp || ( -e $__dk_tmp && ! -f $__dk_tmp ) ]] && { command rm -f -- "$__dk_tmp" || return 0; }
    {
        builtin printf 'builtin cd -- %q 2>/dev/null || builtin printf "dockerkernel: the working directory %%s is gone (a new container); staying in %%s\\n" %q "$PWD" >&2\n' "$PWD" "$PWD"
        # shopt first: extglob changes how the functions below are parsed (login_shell and
        # restricted_shell cannot be set: their complaint is silenced)
        [[ $__dk_shopt == "$__dk_fresh_shopt" ]] || builtin printf '{\n%s} 2>/dev/null\n' "$__dk_shopt"
        ((${#__dk_vars[@]})) && builtin declare -p "${__dk_vars[@]}" 2>/dev/null
        for __dk_name in "${__dk_fresh[@]}"; do
            [[ $__dk_all == *" $__dk_name "* ]] || builtin printf 'builtin unset -v %s\n' "$__dk_name"
        done
        ((${#__dk_userfns[@]})) && builtin declare -f "${__dk_userfns[@]}"
        for __dk_name in "${__dk_exported[@]}"; do
            [[ $__dk_name == __dk_* ]] || builtin printf 'builtin declare -fx %s\n' "$__dk_name"
        done
        builtin alias -p
        # `set` options last (applied just before the cell): errexit or nounset must not stop the restore
        # xtrace, verbose, errexit, nounset and noclobber were switched off for the save itself:
        # their state is in $__dk_flags, and the lines after `set +o` win
        if [[ $__dk_setopts != "$__dk_fresh_set" || $__dk_flags == *[Ceuvx]* ]]; then
            builtin printf '__dk_set_options() {\n%s' "$__dk_setopts"
            [[ $__dk_flags == *C* ]] && builtin printf '  set -o noclobber\n'
            [[ $__dk_flags == *e* ]] && builtin printf '  set -o errexit\n'
            [[ $__dk_flags == *u* ]] && builtin printf '  set -o nounset\n'
            [[ $__dk_flags == *v* ]] && builtin printf '  set -o verbose\n'
            [[ $__dk_flags == *x* ]] && builtin printf '  set -o xtrace\n'
            builtin printf '}\n'
        fi
        builtin printf '__dk_saved_by=%d\n__dk_complete=%d\n' "$__dk_count" "$__dk_seq"
    } >| "$__dk_tmp" || return 0
    __dk_report "${#__dk_vars[@]}" "${#__dk_userfns[@]}" "${#BASH_ALIASES[@]}"
}

__dk_report() {
    # a `state` frame: what was carried, for the reply metadata and %state (protocol.py)
    local LC_ALL=C __dk_body __dk_text
    IFS= builtin read -r -d '' -N "$__dk_max_state" __dk_text < "$__dk_tmp"
    builtin printf -v __dk_body '{"language":"bash","carried":{"count":%d,"bytes":%d,"variables":%d,"functions":%d,"aliases":%d},"not_carried":{}}' \
        $(($1 + $2 + $3)) "${#__dk_text}" "$1" "$2" "$3"
    [[ -n $__dk_nonce ]] || return 0
    builtin printf '\eDK %s state %d\n%s' "$__dk_nonce" "${#__dk_body}" "$__dk_body" >&"$__dk_out" 2>/dev/null
}

__dk_finish() {
    # the end of the cell: save, tell the runner the status (see runner.wait_for_end), exit with it.
    # `exit N`, `set -e` and fatal signals other than SIGKILL end the shell through the EXIT trap,
    # which only saves: bash itself then exits with N, or dies of the signal
    __dk_save
    if ((__dk_done_fd >= 0)); then
        builtin printf '%d\n' $(($1 & 255)) >&"$__dk_done_fd" 2>/dev/null
        __dk_done_fd=-1
    fi
    builtin exit "$1"
}

# `builtin`: a cell may define a function named `:` (a fork bomb does), and the restore
# brings it back; the boot only ever runs builtins by name
__dk_set_options() { builtin :; }

# -- header and source ----------------------------------------------------------------------
IFS= builtin read -r __dk_header || exit 0  # the kernel went away before sending a cell
[[ $__dk_header =~ \"nonce\":\"([0-9a-f]+)\" ]] && export DK_NONCE=${BASH_REMATCH[1]} && __dk_nonce=$DK_NONCE
__dk_count=0
[[ $__dk_header =~ \"execution_count\":([0-9]+) ]] && __dk_count=${BASH_REMATCH[1]}
__dk_keep=1
# cells ended by a limit (the kernel's list): a state one of them saved is not restored
__dk_discard=,
[[ $__dk_header =~ \"DK_STATE_DISCARD\":\"([0-9,]+)\" ]] && __dk_discard=,${BASH_REMATCH[1]},
[[ $__dk_header =~ \"state\":false,\"compile\":null\}$ ]] && __dk_keep=0
__dk_read_source
# the cell's stdin: a terminal the runner watches when the frontend can answer (so `read -p`
# shows its prompt and `read -s` asks for a password), else its pipe (a %stdin file, or EOF)
__dk_stdin=${DK_STDIN_FD:-} __dk_other=${DK_STDIN_TTY:-}
if [[ $__dk_header == *'"stdin":true'* && $__dk_header != *'"stdin_file"'* ]]; then
    __dk_stdin=${DK_STDIN_TTY:-} __dk_other=${DK_STDIN_FD:-}
fi
[[ $__dk_stdin =~ ^[0-9]+$ ]] && exec 0<&"$__dk_stdin" && exec {__dk_stdin}<&-
[[ $__dk_other =~ ^[0-9]+$ ]] && exec {__dk_other}<&-
unset DK_STDIN_FD DK_STDIN_TTY __dk_stdin __dk_other

__dk_saved=0
exec {__dk_out}>&1  # the frame goes where the cell's stdout went first, whatever the cell redirects
if ((__dk_keep)) && __dk_load; then
    # top level on purpose: `declare` in a function would make the variables local
    builtin eval "$__dk_text"
fi
builtin unset -v __dk_text
__dk_env
builtin trap '__dk_save' EXIT
BASH_ARGV0=bash  # $0 as in bash_kernel's shell (and `bash -c`), not the boot's file
# the boot's own variables are not the cell's
builtin unset -v __dk_header BASH_REMATCH
__dk_set_options; builtin unset -f __dk_set_options; builtin source "$__dk_cell"
__dk_finish $?
