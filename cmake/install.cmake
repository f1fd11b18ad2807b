# `cmake --install` and CPack: the library (shared), its development files (headers, static
# library, bantam.pc, bantamConfig.cmake) and the CLI, as three components that CPack turns into
# the Debian packages libbantam, libbantam-dev and bantam.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(DIRECTORY include/bantam DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
set_target_properties(bantam_core PROPERTIES EXPORT_NAME core)
set_target_properties(bantam_core_static PROPERTIES EXPORT_NAME core_static)
install(TARGETS bantam_core EXPORT bantamTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT lib NAMELINK_COMPONENT dev)
install(TARGETS bantam_core_static EXPORT bantamTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
install(TARGETS bantam_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)

set(BANTAM_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/bantam)
install(EXPORT bantamTargets NAMESPACE bantam:: DESTINATION ${BANTAM_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(cmake/bantamConfig.cmake.in ${CMAKE_BINARY_DIR}/bantamConfig.cmake
                              INSTALL_DESTINATION ${BANTAM_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/bantamConfigVersion.cmake
                                 COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/bantamConfig.cmake ${CMAKE_BINARY_DIR}/bantamConfigVersion.cmake
        DESTINATION ${BANTAM_CMAKE_DIR} COMPONENT dev)
# Relocatable: the prefix is found from the .pc file's own folder (a temporary prefix, dpkg -x).
file(RELATIVE_PATH BANTAM_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(cmake/bantam.pc.in ${CMAKE_BINARY_DIR}/bantam.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/bantam.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

set(CPACK_PACKAGE_NAME bantam)
set(CPACK_PACKAGE_VENDOR "bantam")
set(CPACK_PACKAGE_CONTACT "bantam developers <bantam@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Runtime for small GGUF language models")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packages)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL lib dev cli)
set(CPACK_COMPONENT_DEV_DEPENDS lib)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)  # libbantam-dev depends on libbantam
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
# dpkg-shlibdeps names the Debian packages of the shared libraries each package's files need.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_LIB_PACKAGE_NAME libbantam)
set(CPACK_DEBIAN_LIB_DESCRIPTION "bantam's engine as a shared library (C and C++ API)")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libbantam-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# The static library needs the development files of what core links.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libpcre2-dev, libutf8proc-dev, libfmt-dev")
set(CPACK_DEBIAN_CLI_PACKAGE_NAME bantam)
set(CPACK_DEBIAN_CLI_PACKAGE_SECTION utils)
# The chat page `bantam serve` answers at / is compiled into the binary: building the package needs
# nodejs and npm (Debian) and web/node_modules (`npm ci`, scripts/deps.sh); running it needs neither.
set(CPACK_DEBIAN_CLI_DESCRIPTION "bantam command line and OpenAI-compatible server, with its web chat page built in
 The chat page was bundled at build time with nodejs and npm from marked and DOMPurify.")
include(CPack)
