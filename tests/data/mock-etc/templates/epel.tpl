config_opts['root'] = 'epel-{{ releasever }}-{{ target_arch }}'
config_opts['description'] = 'EPEL {{ releasever }} on an EL {{ releasever }} base'
config_opts['chroot_setup_cmd'] = 'install @buildsys-build'
config_opts['dist'] = 'el{{ releasever }}'
config_opts['package_manager'] = 'dnf'

config_opts['dnf.conf'] = """
[main]
keepcache=1
reposdir=/dev/null
gpgcheck=0
assumeyes=1
install_weak_deps=0
best=1
module_platform_id=platform:el{{ releasever }}

# repos

[baseos]
name=BaseOS
metalink=https://mirrors.example.org/metalink?repo=el{{ releasever }}-baseos&arch=$basearch
gpgcheck=1
skip_if_unavailable=False

[epel]
name=epel
metalink=https://mirrors.fedoraproject.org/metalink?repo=epel-{{ releasever }}&arch=$basearch
gpgkey=file:///usr/share/distribution-gpg-keys/epel/RPM-GPG-KEY-EPEL-{{ releasever }}
gpgcheck=1
skip_if_unavailable=False
"""
