// placeholder
#include <gtest/gtest.h>
TEST(Frontend, Builds) {}
