#include <cstdio>
int odr_a();
int odr_b();
int main() {
    int a = odr_a(), b = odr_b();
    std::printf("components: %d, kinds: %d\n", a, b);
    return (a > 0 && b > 0) ? 0 : 1;
}
