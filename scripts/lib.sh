# Shared shell helpers for the scripts in this folder.

apt_install() {
    # Install Debian packages, as root or through sudo.
    local sudo=""
    if [ "$(id -u)" != "0" ]; then
        sudo="sudo"
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@"
}
