config_opts['root'] = 'fedora-rawhide-{{ target_arch }}'
config_opts['chroot_setup_cmd'] = 'install @buildsys-build'
config_opts['dist'] = 'rawhide'
config_opts['releasever'] = '45'
config_opts['package_manager'] = 'dnf5'
config_opts['bootstrap_image'] = 'registry.fedoraproject.org/fedora:rawhide'

config_opts['dnf.conf'] = """
[main]
keepcache=1
reposdir=/dev/null
assumeyes=1
module_platform_id=platform:f{{ releasever }}

# repos

[rawhide]
name=fedora
metalink=https://mirrors.fedoraproject.org/metalink?repo=rawhide&arch=$basearch
gpgkey=file:///usr/share/distribution-gpg-keys/fedora/RPM-GPG-KEY-fedora-rawhide-primary
gpgcheck=1
skip_if_unavailable=False
"""
