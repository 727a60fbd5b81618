# The I/O layers. Each is built only once it has sources, so the tree stays
# buildable while layers land one at a time.
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(LIBCURL REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(LWS REQUIRED IMPORTED_TARGET libwebsockets)

macro(tern_layer name dir)
  file(GLOB _src CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${dir}/*.c ${CMAKE_SOURCE_DIR}/src/${dir}/*.cc)
  if(_src)
    add_library(${name} STATIC ${_src})
    target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src)
    target_link_libraries(${name} PUBLIC ${TERN_LIBS} ${ARGN})
    set(TERN_LIBS ${name} ${TERN_LIBS})
  endif()
endmacro()

tern_layer(tern_net net PkgConfig::LIBUV PkgConfig::LIBCURL PkgConfig::LWS)
tern_layer(tern_provider provider)
tern_layer(tern_agent agent)

# The offline engines of the provider layer: pocketsphinx hears, flite and
# espeak-ng speak (flite ships no .pc file, so its libraries are named).
# Debian's sphinxbase.pc names an include directory that does not exist
# (/usr/include/sphinxbase), which an imported target refuses, so only the
# directories that exist are used.
if(TARGET tern_provider)
  pkg_check_modules(SPHINX REQUIRED pocketsphinx sphinxbase)
  pkg_check_modules(ESPEAKNG REQUIRED IMPORTED_TARGET espeak-ng)
  set(_sphinx_inc)
  foreach(_d ${SPHINX_INCLUDE_DIRS})
    if(EXISTS ${_d})
      list(APPEND _sphinx_inc ${_d})
    endif()
  endforeach()
  target_include_directories(tern_provider PRIVATE ${_sphinx_inc})
  target_compile_definitions(tern_provider PRIVATE
    TERN_DEFAULT_SCRIPT="${CMAKE_SOURCE_DIR}/examples/scripted/default.rules")
  target_link_libraries(tern_provider PUBLIC ${SPHINX_LINK_LIBRARIES} PkgConfig::ESPEAKNG
    flite_cmu_us_kal16 flite_cmu_us_slt flite_usenglish flite_cmulex flite)
endif()

# The transport and server layers: WebSocket sessions, admission with
# access tokens (libjwt), admin HTTP.
pkg_check_modules(LIBJWT REQUIRED IMPORTED_TARGET libjwt)
pkg_check_modules(LIBCRYPTO REQUIRED IMPORTED_TARGET libcrypto)
tern_layer(tern_transport transport)
tern_layer(tern_server server PkgConfig::LIBJWT PkgConfig::LIBCRYPTO)
# The browser client's files (web/, with the operator dashboard in
# web/dashboard/) when [server] web_root is not set and the working
# directory has no web/: the source tree's, for a build run where it was
# built.
if(TARGET tern_server)
  target_compile_definitions(tern_server PRIVATE TERN_WEB_ROOT_DEFAULT="${CMAKE_SOURCE_DIR}/web")
endif()
