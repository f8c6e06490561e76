// STUB for the syntax check on Linux (test/metal-syntax.test.ts): declares
// only the Foundation API native/metal/*.mm uses, with Apple's selectors,
// argument types and values as Apple's metal-cpp headers declare them
// (checked against metal-cpp for macOS 14.2 / iOS 17.2; the facts are in
// metal-cpp-api.json next to these stubs). Never used for a real build (macOS
// uses the SDK's headers).
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef unsigned long NSUInteger;
typedef long NSInteger;
typedef signed char BOOL;
#define YES ((BOOL)1)
#define NO ((BOOL)0)
#ifndef nil
#define nil ((id)0)
#endif
#define NS_ENUM(TYPE, NAME) \
  enum NAME : TYPE NAME;    \
  enum NAME : TYPE
#define NS_OPTIONS(TYPE, NAME) \
  enum NAME : TYPE NAME;       \
  enum NAME : TYPE
#define NS_RETURNS_RETAINED __attribute__((ns_returns_retained))

typedef NS_ENUM(NSUInteger, NSStringEncoding) { NSUTF8StringEncoding = 4 };

@protocol NSObject
@end

__attribute__((objc_root_class))
@interface NSObject<NSObject>
+ (instancetype)alloc;
- (instancetype)init;
@end

@interface NSString : NSObject
+ (instancetype)stringWithCString:(const char*)cString encoding:(NSStringEncoding)enc;
- (instancetype)initWithBytesNoCopy:(void*)bytes
                             length:(NSUInteger)len
                           encoding:(NSStringEncoding)encoding
                       freeWhenDone:(BOOL)freeBuffer;
- (const char*)UTF8String;
@end

@interface NSError : NSObject
@property(readonly) NSString* localizedDescription;
@end

@interface NSArray<__covariant ObjectType> : NSObject
@property(readonly) NSUInteger count;
- (ObjectType)objectAtIndex:(NSUInteger)index;
@end
