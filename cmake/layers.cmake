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
